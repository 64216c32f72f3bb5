"""``metricloop bench pushdown``: rows leaving the warehouse grow with slices x periods, not facts."""

from __future__ import annotations

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.render import emit
from metricloop.errors import ConfigError


@bench_app.command("pushdown")
def bench_pushdown(
    engine: list[str] = typer.Option([], "--engine", help="duckdb, clickhouse, spark (default: all three)."),
    facts: list[int] = typer.Option([], "--facts", help="Fact counts (default: 10000 100000 1000000)."),
    slices: int = typer.Option(8, "--slices", help="Distinct values of the slicing dimension."),
    days: int = typer.Option(28, "--days", help="Days the facts spread over (at most 28)."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Facts generated inside each warehouse; the detect, backfill and explain queries' rows out."""
    from metricloop.bench import pushdown

    engines = engine or list(pushdown.ENGINES)
    bad = [e for e in engines if e not in pushdown.ENGINES]
    if bad or not 1 <= days <= 28:
        raise ConfigError(
            f"--engine {', '.join(bad)}: expected {', '.join(pushdown.ENGINES)}; --days 1..28",
            zh=f"--engine 应为 {', '.join(pushdown.ENGINES)}；--days 为 1..28",
        )
    rows = pushdown.run(engines, facts or (10_000, 100_000, 1_000_000), slices, days)
    emit([r.as_dict() for r in rows], fmt,
         columns=["engine", "facts", "query", "rows_out", "slices_x_periods", "seconds"],
         title="bench pushdown — rows leaving the warehouse")
