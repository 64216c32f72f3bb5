"""``metricloop bench rca``: root-cause localization F1 and time per case on the Squeeze layout."""

from __future__ import annotations

from pathlib import Path

import typer

from metricloop.bench import rca
from metricloop.cli.bench import bench_app
from metricloop.cli.render import emit
from metricloop.errors import ConfigError


@bench_app.command("rca")
def bench_rca(
    data: Path = typer.Option(..., "--data", help="Folder of settings (Squeeze layout) or one setting."),
    algorithm: str = typer.Option("all", "--algorithm", help="ours, adtributor, riskloc (reference) or all."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N cases of each setting."),
) -> None:
    """Micro-F1 by exact element match and seconds per case, per setting and overall."""
    algos = sorted(rca.LOCALIZERS) if algorithm == "all" else [a.strip() for a in algorithm.split(",")]
    if algorithm == "all":
        algos = ["ours"] + [a for a in algos if a != "ours"]
    if fmt not in ("table", "csv", "json"):
        raise ConfigError(f"--format {fmt!r}: expected table, csv or json",
                          zh=f"--format {fmt!r}：应为 table、csv 或 json")
    results = rca.run(data, algos, limit=limit)
    rows = rca.table_rows(results)
    payload = {
        "data": str(data),
        "algorithms": algos,
        "protocol": "micro-F1 by exact element match (Squeeze/RiskLoc protocol); seconds = localization only",
        "riskloc_published_source": rca.RISKLOC_B0_SOURCE,
        "settings": rows,
        "details": [r.row() for r in results],
    }
    emit(rows, fmt, title="bench rca — micro-F1 and seconds per case", payload=payload)
