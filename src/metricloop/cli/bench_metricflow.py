"""``metricloop bench metricflow``: MetricFlow's integration cases answered by MetricLoop's engine."""

from __future__ import annotations

from pathlib import Path

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.render import emit
from metricloop.errors import ConfigError


@bench_app.command("metricflow")
def bench_metricflow(
    data: Path = typer.Option(..., "--data", help="The suite folder (manifests/, tables/, cases/)."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    group: str | None = typer.Option(None, "--group", help="Only tier group a, b or c."),
    cases: bool = typer.Option(False, "--cases", help="Also list every case (table/csv)."),
    engine: str = typer.Option(
        "duckdb", "--engine", help="duckdb, postgres, mysql, clickhouse or spark (DuckDB answers the check queries)."
    ),
    url: str | None = typer.Option(
        None, "--url", help="The engine's URL (postgres/mysql: SQLAlchemy; clickhouse: chdb:// by default; "
        "spark: spark://local[2] by default or sc://host:15002).",
    ),
    extra: list[Path] = typer.Option([], "--extra-cases", help="More case files in the suite's format."),
) -> None:
    """Pass / fail / unsupported per case, file and tier, and the overall pass rate."""
    from metricloop.bench import metricflow as mf  # pandas & jinja load only when the benchmark runs

    if fmt not in ("table", "csv", "json"):
        raise ConfigError(
            f"--format {fmt!r}: expected table, csv or json", zh=f"--format {fmt!r}：应为 table、csv 或 json"
        )
    if not (data / "cases").is_dir():
        raise ConfigError(
            f"{data} has no cases/ folder: expected the MetricFlow conformance suite", zh=f"{data} 下没有 cases/ 目录"
        )
    if engine not in mf.ENGINES:
        raise ConfigError(f"--engine {engine!r}: expected one of {', '.join(mf.ENGINES)}",
                          zh=f"--engine {engine!r}：应为 {', '.join(mf.ENGINES)} 之一")
    if engine in ("postgres", "mysql") and not url:
        raise ConfigError(f"--engine {engine} needs --url", zh=f"--engine {engine} 需要 --url")
    if engine == "spark" and not url:
        url = "spark://local[2]"
    results = mf.run(data, only=(lambda c: c.group == group) if group else None, engine=engine, url=url,
                     extra_cases=extra)
    summary = mf.summary(results)
    payload = {
        "data": str(data),
        "engine": engine,
        "protocol": "rows compared order-free unless the case orders; numbers with relative tolerance "
        f"{mf.REL_TOL}; unsupported cases are never counted as passes",
        "summary": summary,
        "failure_causes": mf.failure_causes(results),
        "cases": [r.row() for r in results],
    }
    if fmt == "json":
        emit([], "json", payload=payload)
        return
    if cases:
        emit([r.row() for r in results], fmt, columns=["file", "case", "tier", "status", "detail"], title="cases")
    rows = [{"scope": f"file {k}", **v} for k, v in summary["files"].items()]
    rows += [{"scope": f"tier {k}", **v} for k, v in summary["tiers"].items()]
    rows += [
        {"scope": f"group {k} ({v['covers']})", **{x: y for x, y in v.items() if x != "covers"}}
        for k, v in summary["groups"].items()
    ]
    rows.append({"scope": "overall", **summary["overall"]})
    emit(
        rows,
        fmt,
        columns=["scope", "cases", "pass", "fail", "unsupported", "pass_rate"],
        title=f"bench metricflow — MetricFlow conformance on {engine}",
        formatters={"pass_rate": lambda v: f"{v:.1%}"},
    )
    if fmt == "table":
        emit(mf.failure_causes(results), fmt, title="main causes of fail / unsupported")
