"""``metricloop bench api``: queries/s and p50/p99 of the query API under concurrent clients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.commands import Fmt, FormatOpt
from metricloop.cli.render import console, emit


@bench_app.command("api")
def bench_api(
    project: Annotated[Path, typer.Option("--project", "-p", help="A demo project (metricloop init DIR --demo).")],
    concurrency: Annotated[int, typer.Option(help="Concurrent HTTP clients.")] = 20,
    repeats: Annotated[int, typer.Option(help="Times the query set is sent again in the warm phase.")] = 3,
    queries: Annotated[int | None, typer.Option(help="Distinct queries (default: all 240).")] = None,
    uncached: Annotated[bool, typer.Option("--uncached/--no-uncached",
                                           help="Also run a server without the result cache.")] = True,
    baseline_src: Annotated[Path | None, typer.Option(
        "--baseline-src", help="Also load a server running the code in this folder (holding a metricloop package, "
        "e.g. `git archive REV src | tar -x`): the before of a change, side by side.")] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Starts `metricloop serve` on 127.0.0.1 and loads POST /api/v1/query (goal ≥ 150 q/s, p99 ≤ 300 ms)."""
    from metricloop.bench.api import run

    report = run(project, concurrency=concurrency, repeats=repeats, queries=queries, uncached=uncached,
                 baseline_src=baseline_src)
    emit(report["phases"], fmt.value, payload=report,
         title=f"bench api — {report['distinct_queries']} distinct queries, concurrency {concurrency}",
         columns=["phase", "requests", "qps", "qps_vs_duckdb", "p50_ms", "p99_ms", "server_cpu_ms", "qps_per_core",
                  "client_cpu_ms", "errors", "identical"])
    if fmt is Fmt.table:
        met = "met" if report["goal_met"] else "not met"
        console.print(f"warm {report['warm_qps']} q/s, p99 {report['warm_p99_ms']} ms "
                      f"(goal ≥ 150 q/s, p99 ≤ 300 ms: {met})")
