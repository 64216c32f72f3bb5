"""Every definition change is an immutable revision; calculation and metadata changes differ."""

from __future__ import annotations

from pathlib import Path

from metricloop.service import MetricLoop


def edit(project: Path, old: str, new: str) -> None:
    f = project / "models" / "shop.yaml"
    text = f.read_text(encoding="utf-8")
    assert old in text
    f.write_text(text.replace(old, new), encoding="utf-8")


def changes(ml: MetricLoop) -> dict[str, str]:
    ml.reload()
    return {c.name: c.change for c in ml.sync_catalog(reason="test") if c.kind == "metric"}


def test_first_sync_creates_then_is_idempotent(tiny: MetricLoop) -> None:
    first = changes(tiny)
    assert first["gmv"] == "created"
    assert first["orders"] == "created"
    assert changes(tiny) == {}


def test_label_edit_is_metadata_expr_edit_is_calculation_and_propagates(tiny: MetricLoop, tiny_project: Path) -> None:
    changes(tiny)
    edit(tiny_project, "label: {zh-CN: 成交额, en: GMV}", "label: {zh-CN: 成交总额, en: GMV}")
    assert changes(tiny) == {"gmv": "metadata"}
    edit(
        tiny_project, "{name: order_amount, agg: sum, expr: amount}", "{name: order_amount, agg: sum, expr: amount * 2}"
    )
    got = changes(tiny)
    # gmv reads that measure: it and every metric built on it changed calculation; orders (same model,
    # other measure) did not, nor did the model's other metrics
    assert "orders" not in got and "sessions" not in got
    assert {got["gmv"], got["aov"], got["gmv_wow"], got["gmv_7d"]} == {"calculation"}
    detail = tiny.metric_detail("gmv")
    assert [(r["version"], r["change"]) for r in detail["revisions"]] == [
        (1, "created"),
        (2, "metadata"),
        (3, "calculation"),
    ]
    assert detail["revisions"][1]["calc_hash"] == detail["revisions"][0]["calc_hash"]
    assert detail["revisions"][2]["calc_hash"] != detail["revisions"][1]["calc_hash"]


def test_adding_a_dimension_to_a_model_is_not_a_calculation_change(tiny: MetricLoop, tiny_project: Path) -> None:
    changes(tiny)
    edit(tiny_project, "      - {name: channel, type: categorical}\n    measures:\n      - {name: order_amount",
         "      - {name: channel, type: categorical}\n      - {name: city, type: categorical}\n"
         "    measures:\n      - {name: order_amount")
    got = changes(tiny)
    assert "gmv" not in got and "orders" not in got  # the model got a new revision, its metrics did not


def test_removed_metric_gets_a_removed_revision_and_can_come_back(tiny: MetricLoop, tiny_project: Path) -> None:
    changes(tiny)
    block = "  - name: app_gmv\n    measure: order_amount\n    filter: \"channel = 'app'\"\n"
    edit(tiny_project, block, "")
    assert changes(tiny) == {"app_gmv": "removed"}
    edit(tiny_project, "  - name: gmv_wow\n", block + "  - name: gmv_wow\n")
    assert changes(tiny) == {"app_gmv": "restored"}
