"""``metricloop bench query``: the compiled metric query vs hand-written DuckDB SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.commands import Fmt, FormatOpt
from metricloop.cli.render import console, emit


@bench_app.command("query")
def bench_query(
    rows: Annotated[int, typer.Option(help="Generated order rows.")] = 10_000_000,
    repeats: Annotated[int, typer.Option(help="Timed runs per side (median reported).")] = 7,
    folder: Annotated[Path | None, typer.Option(help="Keep the generated data here (reused when present).")] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Query speed vs raw DuckDB (goal ≤ 1.1×) and compile time (goal ≤ 5 ms)."""
    from metricloop.bench.query import run

    report = run(rows=rows, repeats=repeats, folder=folder)
    emit(
        report["shapes"],
        fmt.value,
        payload=report,
        title=f"bench query — {rows:,} rows, median of {repeats}",
        columns=["shape", "compiled_ms", "handwritten_ms", "ratio", "compile_ms", "rows", "equal"],
    )
    if fmt is Fmt.table:
        console.print(
            f"max ratio {report['max_ratio']}×, max compile {report['max_compile_ms']} ms "
            f"(data built in {report['data_build_s']} s)"
        )
