"""``metricloop bench rca``: root-cause localization F1 and time per case on the Squeeze layout,
or (``--demo DIR``) top-1/top-3 hit rates of the demo company's injected incidents."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.render import emit
from metricloop.errors import ConfigError, NotFoundError


@bench_app.command("rca")
def bench_rca(
    data: Path | None = typer.Option(None, "--data", help="Folder of settings (Squeeze layout) or one setting."),
    demo: Path | None = typer.Option(None, "--demo", help="Or a demo project (metricloop init DIR --demo)."),
    metrics: str = typer.Option("main", "--metrics", help="With --demo: main (each incident's first metric) or all."),
    algorithm: str = typer.Option("all", "--algorithm", help="ours, adtributor, riskloc (reference) or all."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N cases of each setting."),
    ratio: Path | None = typer.Option(
        None, "--generate-ratio",
        help="Write seeded ratio-KPI cases (numerator, denominator or both move) to DIR and run on them."),
    seed: int = typer.Option(13, "--seed", help="With --generate-ratio: the generator's seed."),
) -> None:
    """Micro-F1 by exact element match and seconds per case, per setting and overall."""
    from metricloop.bench import rca  # scipy & co load only when the benchmark runs

    if fmt not in ("table", "csv", "json"):
        raise ConfigError(f"--format {fmt!r}: expected table, csv or json",
                          zh=f"--format {fmt!r}：应为 table、csv 或 json")
    if ratio is not None and data is None and demo is None:
        rca.generate_ratio_cases(ratio, seed=seed)
        data = ratio
    if (data is None) == (demo is None):
        raise ConfigError("give exactly one of --data DIR (Squeeze layout), --generate-ratio DIR or --demo DIR "
                          "(demo project)",
                          zh="请只指定 --data DIR（Squeeze 数据）、--generate-ratio DIR 或 --demo DIR（示例项目）之一")
    if demo is not None:
        _bench_demo(demo, metrics, fmt)
        return
    assert data is not None
    algos = sorted(rca.LOCALIZERS) if algorithm == "all" else [a.strip() for a in algorithm.split(",")]
    if algorithm == "all":
        algos = ["ours"] + [a for a in algos if a != "ours"]
    results = rca.run(data, algos, limit=limit)
    rows = rca.table_rows(results)
    payload = {
        "data": str(data),
        "algorithms": algos,
        "protocol": ("micro-F1 by exact element match (Squeeze/RiskLoc protocol); mean_s/median_s = localization "
                     "only, case_s = read + leaf_table + localize"),
        "riskloc_published_source": rca.RISKLOC_B0_SOURCE,
        "settings": rows,
        "details": [r.row() for r in results],
    }
    emit(rows, fmt, title="bench rca — micro-F1 and seconds per case", payload=payload)


def _bench_demo(project: Path, metrics: str, fmt: str) -> None:
    from metricloop.bench import rca  # scipy & co load only when the benchmark runs
    from metricloop.service import MetricLoop

    truth_path = project / "data" / "ground_truth.json"
    if not truth_path.exists():
        raise NotFoundError(f"{truth_path} not found: build the demo with `metricloop init {project} --demo`",
                            zh=f"未找到 {truth_path}：请先运行 `metricloop init {project} --demo`")
    ml = MetricLoop.open(project)
    try:
        report = rca.evaluate_demo(ml, json.loads(truth_path.read_text(encoding="utf-8")), metrics=metrics)
    finally:
        ml.close()
    payload = {"project": str(project), "metrics": metrics, "baseline": "same window last week",
               **report.to_dict()}
    rows = [r.row() for r in report.results]
    title = (f"bench rca --demo — top-1 {report.top1 or 0:.0%}, top-3 {report.top3 or 0:.0%} "
             f"of {len(rows)} case(s)")
    emit(rows, fmt, title=title, payload=payload)
