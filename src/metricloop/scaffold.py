"""``metricloop init``: write a new project folder, optionally the demo company with its data."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metricloop.errors import ConfigError
from metricloop.project import PROJECT_FILE

DEMO_TEMPLATE = Path(__file__).parent / "demo" / "project"
StepProgress = Callable[[str, float], None]

EMPTY_CONFIG = """\
# MetricLoop project — https://github.com/metricloop (docs: README.md)
name: {name}
timezone: Asia/Shanghai      # IANA zone; periods and schedules use it
locale: zh-CN                # zh-CN | en
warehouse:
  type: duckdb               # duckdb (embedded) | postgres | mysql
  path: warehouse.duckdb     # for postgres/mysql: url: postgresql://user:${{PGPASSWORD}}@host/db
# state:
#   url: postgresql://metricloop:${{STATE_PASSWORD}}@db/metricloop   # default: SQLite in .metricloop/
# tables:                    # data-quality checks run after each load
#   orders: {{time_column: order_time, freshness_sla: 2 hours, unique_key: [order_id]}}
"""

EXAMPLE_MODEL = """\
# Semantic models and metrics. Keys follow dbt MetricFlow; see README.md for the full schema.
# semantic_models:
#   - name: orders
#     table: orders
#     defaults: {agg_time_dimension: order_time}
#     dimensions:
#       - {name: order_time, type: time, type_params: {time_granularity: hour}}
#       - {name: region, type: categorical}
#     measures:
#       - {name: order_amount, agg: sum, expr: amount}
# metrics:
#   - name: gmv
#     label: {zh-CN: 成交额, en: GMV}
#     measure: order_amount
#     business_definition: {zh-CN: 已支付订单金额之和, en: Sum of paid order amounts}
#     owners: {business: [someone]}
"""


def _prepare(directory: Path, force: bool) -> None:
    if directory.exists() and any(directory.iterdir()) and not force:
        if (directory / PROJECT_FILE).exists():
            raise ConfigError(
                f"{directory} already holds a project (use --force to overwrite it)",
                zh=f"{directory} 已经是一个项目（用 --force 覆盖）",
            )
        raise ConfigError(
            f"{directory} is not empty (use --force to write into it)",
            zh=f"{directory} 不是空目录（用 --force 强制写入）",
        )
    directory.mkdir(parents=True, exist_ok=True)


def init_empty(directory: Path, *, force: bool = False) -> None:
    _prepare(directory, force)
    (directory / PROJECT_FILE).write_text(EMPTY_CONFIG.format(name=directory.resolve().name), encoding="utf-8")
    for sub in ("models", "monitors"):
        (directory / sub).mkdir(exist_ok=True)
    (directory / "models" / "example.yaml").write_text(EXAMPLE_MODEL, encoding="utf-8")
    (directory / ".gitignore").write_text(".metricloop/\n*.duckdb\n*.duckdb.wal\ndata/\n", encoding="utf-8")


def init_demo(
    directory: Path, *, force: bool = False, seed: int = 42, scale: float = 1.0, progress: StepProgress | None = None
) -> dict[str, Any]:
    """Write the demo company's project files, generate its data and load it into DuckDB."""
    from metricloop import demo
    from metricloop.service import MetricLoop

    def step(name: str, frac: float) -> None:
        if progress:
            progress(name, frac)

    _prepare(directory, force)
    step("writing project", 0.02)
    for src in DEMO_TEMPLATE.rglob("*"):
        if src.is_file() and "__pycache__" not in src.parts:
            dst = directory / src.relative_to(DEMO_TEMPLATE)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    (directory / ".gitignore").write_text(".metricloop/\n*.duckdb\n*.duckdb.wal\ndata/\n", encoding="utf-8")
    step("generating two years of data", 0.05)
    data = demo.generate(seed=seed, scale=scale)
    step("writing parquet", 0.45)
    files = demo.write(data, directory / "data")
    ml = MetricLoop.open(directory)
    try:
        rows = 0
        tables = [t for t in files if t != "ground_truth"]
        for i, table in enumerate(tables):
            step(f"loading {table}", 0.5 + 0.4 * i / max(len(tables), 1))
            result, _ = ml.ingest(str(files[table]), table, mode="replace")
            rows += result.rows_loaded
        step("recording the catalog", 0.95)
        ml.validate()
        ml.sync_catalog(reason="demo project created")
        step("done", 1.0)
        return {
            "rows": rows,
            "tables": tables,
            "metrics": len(ml.catalog.metrics),
            "ground_truth": str(files.get("ground_truth", "")),
        }
    finally:
        ml.close()
