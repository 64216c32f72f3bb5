"""The doors: ``metricloop catalog import-metricflow / export-metricflow`` on a real project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from metricloop.cli.main import app, load_commands
from metricloop.engine.query import MetricQuery
from metricloop.errors import ConflictError, DefinitionError
from metricloop.service import MetricLoop

load_commands()
runner = CliRunner()


def test_import_then_query_through_the_facade(tiny_project: Path, tmp_path: Path) -> None:
    """A dbt file whose semantic model points at the project's own table is queryable after import."""
    src = tmp_path / "dbt"
    src.mkdir()
    (src / "traffic.yml").write_text(
        "semantic_model:\n"
        "  name: web_traffic\n"
        "  node_relation: {alias: traffic}\n"
        "  defaults: {agg_time_dimension: hour}\n"
        "  dimensions:\n"
        "    - {name: hour, type: time, type_params: {time_granularity: hour}}\n"
        "    - {name: channel, type: categorical}\n"
        "  measures: [{name: visits, agg: sum, expr: sessions}]\n"
        "---\n"
        "metric: {name: web_sessions, type: simple, type_params: {measure: visits},"
        " filter: \"{{ Dimension('channel') }} = 'web'\", config: {meta: {owner: ops@example.com}}}\n",
        encoding="utf-8",
    )
    ml = MetricLoop.open(tiny_project)
    try:
        report = ml.interop.import_metricflow(src)
        assert report.path == tiny_project / "models" / "imported.yaml"
        assert report.counts["metrics"] == 1
        web = ml.query(MetricQuery(metrics=["web_sessions"])).rows()[0]["web_sessions"]
        native = ml.query(MetricQuery(metrics=["sessions"], where="channel = 'web'")).rows()[0]["sessions"]
        assert web == native and web > 0
        assert ml.catalog.metric("web_sessions").owners.technical == ["ops@example.com"]
    finally:
        ml.close()


def test_import_refuses_to_break_the_catalog_or_clobber_hand_written_files(tiny_project: Path, tmp_path: Path) -> None:
    src = tmp_path / "dbt.yml"
    src.write_text("metric: {name: gmv, type: simple, type_params: {measure: order_amount}}\n", encoding="utf-8")
    ml = MetricLoop.open(tiny_project)
    try:
        with pytest.raises(DefinitionError, match="duplicate metric 'gmv'"):
            ml.interop.import_metricflow(src)
        assert not (tiny_project / "models" / "imported.yaml").exists()
        src.write_text(
            "metric: {name: gmv_copy, type: simple, type_params: {measure: order_amount}}\n", encoding="utf-8"
        )
        with pytest.raises(ConflictError):
            ml.interop.import_metricflow(src, Path("models/shop.yaml"))
        ml.interop.import_metricflow(src)  # re-import over its own output is fine
        ml.interop.import_metricflow(src)
    finally:
        ml.close()


def test_cli_import_export_round_trip(suite: Path, tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "models").mkdir(parents=True)
    (project / "metricloop.yaml").write_text("name: p\n", encoding="utf-8")
    res = runner.invoke(
        app,
        [
            "catalog",
            "import-metricflow",
            str(suite / "manifests" / "simple_manifest"),
            "--replace",
            "$source_schema=mf",
            "--project",
            str(project),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert payload["counts"]["metrics"] >= 90
    levels = {o["object"]: o["level"] for o in payload["objects"]}
    assert levels["metric:visit_buy_conversion_rate"] == "mapped"
    assert levels["metric:bookings_offset_alien_day"] == "unsupported"  # a window in a custom granularity
    assert levels["saved_query:p0_booking"] == "kept"

    out = tmp_path / "exported"
    res = runner.invoke(app, ["catalog", "export-metricflow", str(out), "--project", str(project), "--format", "json"])
    assert res.exit_code == 0, res.output
    sm = yaml.safe_load(
        (out / "semantic_models" / "bookings_source.yaml").read_text(encoding="utf-8").split("---\n")[1]
    )
    assert sm["semantic_model"]["node_relation"]["schema_name"] == "$source_schema"  # substitution undone
    assert (out / "saved_queries.yaml").exists() and (out / "project_configuration.yaml").exists()

    again = tmp_path / "again"
    shutil.copytree(project, again)
    res = runner.invoke(
        app,
        [
            "catalog",
            "import-metricflow",
            str(out),
            "--replace",
            "$source_schema=mf",
            "--project",
            str(again),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    a = yaml.safe_load((project / "models" / "imported.yaml").read_text(encoding="utf-8"))
    b = yaml.safe_load((again / "models" / "imported.yaml").read_text(encoding="utf-8"))
    for doc in (a, b):
        doc["extensions"]["dbt"].pop("source")
    def key(d: dict[str, Any]) -> tuple[Any, ...]:
        return (
            {m["name"]: m for m in d["metrics"]},
            {m["name"]: m for m in d["semantic_models"]},
            d["extensions"],
            d["time_spines"],
        )

    assert key(a) == key(b)


def test_export_of_a_native_project(tiny_project: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["catalog", "export-metricflow", str(tmp_path / "out"), "--project", str(tiny_project)])
    assert res.exit_code == 0, res.output
    docs = list(yaml.safe_load_all((tmp_path / "out" / "metrics.yaml").read_text(encoding="utf-8")))
    gmv = next(d["metric"] for d in docs if d and d["metric"]["name"] == "gmv")
    assert gmv["type_params"]["measure"] == "order_amount"
    assert gmv["config"]["meta"]["metricloop"]["tier"] == "north_star"
    orders = yaml.safe_load((tmp_path / "out" / "semantic_models" / "orders.yaml").read_text(encoding="utf-8"))
    assert orders["semantic_model"]["model"] == "ref('orders')"
