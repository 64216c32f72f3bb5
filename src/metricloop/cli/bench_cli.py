"""``metricloop bench cli``: the fixed cost of a CLI call vs a python+duckdb script."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.commands import Fmt, FormatOpt
from metricloop.cli.render import console, emit


@bench_app.command("cli")
def bench_cli(
    project: Annotated[Path, typer.Option("--project", "-p", help="A demo project (metricloop init DIR --demo).")],
    metric: Annotated[str, typer.Option(help="Metric to query.")] = "gmv",
    by: Annotated[str, typer.Option(help="Dimension to group by.")] = "region",
    grain: Annotated[str, typer.Option(help="Time grain.")] = "month",
    repeats: Annotated[int, typer.Option(help="Timed runs per command (best reported).")] = 7,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """`metricloop query` vs the same SQL in a python+duckdb script (goal ≤ 1.5×), `--help` (goal ≤ 0.3 s);
    repeated calls (the fast doors' caches) and cold ones."""
    from metricloop.bench.cli import run

    report = run(project, metric=metric, by=by, grain=grain, repeats=repeats)
    emit(
        report["commands"],
        fmt.value,
        payload=report,
        title=f"bench cli — best of {repeats}, runs interleaved",
        columns=["command", "best_s", "median_s", "ratio_to_script", "cpu_s", "cpu_ratio"],
    )
    if fmt is Fmt.table:
        console.print(
            f"query {report['query_ratio']}× the script (goal ≤ 1.5×; CPU {report['query_cpu_ratio']}×; "
            f"cold {report['cold_query_ratio']}×), --help {report['help_s']} s = {report['help_ratio_to_python']}× "
            f"`python -c pass` (goal ≤ 0.3 s; cold {report['cold_help_s']} s)"
        )
