"""``metricloop bench ingest``: rows/s of CSV loads (with a schema, inferred, appended)."""

from __future__ import annotations

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.render import emit


@bench_app.command("ingest")
def bench_ingest(
    rows: int = typer.Option(1_000_000, "--rows", min=10, help="Rows of the generated CSV."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the generated data."),
    fmt: str = typer.Option("table", "--format", help="table|json"),
) -> None:
    """Load speed of a generated CSV (1 row in 100,000 has a bad timestamp)."""
    from metricloop.bench import ingest as b

    rep = b.report(rows, seed)
    emit(rep["rows"], fmt, title=f"Ingest speed ({rep['file_rows']:,}-row CSV, seed {rep['seed']})", payload=rep)
