"""What `catalog infer` and `monitors suggest` propose, from facts (no warehouse)."""

from __future__ import annotations

from metricloop.catalog.infer import ColumnProfile, TableProfile, infer_model
from metricloop.catalog.models import Grain, Metric
from metricloop.detect.monitor import parse_monitor
from metricloop.detect.suggest import MetricFacts, suggest_monitors, worth_slicing

EVENTS = TableProfile("orders", 1000, [
    ColumnProfile("order_id", "integer", 1000), ColumnProfile("buyer_id", "integer", 300),
    ColumnProfile("order_time", "time", 990), ColumnProfile("city", "text", 12),
    ColumnProfile("note", "text", 950), ColumnProfile("amount", "number", 800),
], {"order_time": Grain.hour})
HOURLY = TableProfile("hourly", 500, [
    ColumnProfile("hour", "time", 100), ColumnProfile("city", "text", 5), ColumnProfile("orders", "integer", 90),
], {"hour": Grain.hour})


def test_infer_events_table() -> None:
    model = infer_model(EVENTS)
    sm = model["semantic_models"][0]
    assert sm["defaults"] == {"agg_time_dimension": "order_time"}
    assert [e["type"] for e in sm["entities"]] == ["primary", "foreign"]
    dims = {d["name"]: d for d in sm["dimensions"]}
    assert dims["order_time"]["type_params"] == {"time_granularity": "hour"}
    assert "city" in dims and "note" not in dims  # free text is not a slice
    metrics = {m["name"]: m for m in model["metrics"]}
    assert metrics["orders"]["tier"] == "primary" and metrics["orders"]["unit"] == "count"
    assert metrics["amount"]["tier"] == "primary" and metrics["amount"]["format"] == ",.2f"  # money-like
    for m in model["metrics"]:
        Metric.model_validate(m)


def test_infer_pre_aggregated_rows() -> None:
    metrics = {m["name"]: m for m in infer_model(HOURLY)["metrics"]}
    assert metrics["hourly_rows"]["tier"] == "diagnostic"  # rows only say whether data arrived
    assert metrics["orders"]["tier"] == "primary" and metrics["orders"]["unit"] == "count"


def _metric(name: str, tier: str, polarity: str = "higher_is_better") -> Metric:
    return Metric.model_validate({"name": name, "measure": "x", "tier": tier, "polarity": polarity})


def test_worth_slicing_by_volume() -> None:
    assert worth_slicing([("a", 50), ("b", 30), ("c", 18), ("d", 2)]) == ["a", "b", "c"]
    assert worth_slicing([("a", 99), ("b", 1)]) == []  # one value carries everything
    assert worth_slicing([(str(i), 1.0) for i in range(100)]) == []  # too many, each too small


def test_suggest_follows_tier_grain_and_volume() -> None:
    slices = {"city": [("bj", 40), ("sh", 35), ("cd", 25)], "channel": [("app", 60), ("web", 40)],
              "sku": [(str(i), 1.0) for i in range(500)]}
    facts = [
        MetricFacts(_metric("gmv", "north_star"), Grain.hour, 70, 0.99, slices),
        MetricFacts(_metric("refunds", "primary", "lower_is_better"), Grain.hour, 20, 0.5, slices),
        MetricFacts(_metric("items", "secondary"), Grain.day, 70, 0.0, slices),
        MetricFacts(_metric("rows", "diagnostic"), Grain.hour, 70, 1.0, slices),
    ]
    out = {s.monitor["name"]: s.monitor for s in suggest_monitors(facts, timezone="Asia/Shanghai")}
    assert set(out) == {"gmv_by_city", "gmv_by_channel", "refunds_by_city", "items_total"}
    assert out["gmv_by_city"]["grain"] == "hour" and out["gmv_by_city"]["top_n"] == 3
    assert out["gmv_by_city"]["detectors"][0]["type"] == "seasonal"
    assert out["gmv_by_city"]["noise"]["calendars"] == ["cn_holidays"]
    assert out["refunds_by_city"]["grain"] == "day"  # half the hours are empty: judge days
    assert "detectors" not in out["refunds_by_city"]  # 20 days of history: the default detector
    assert "direction" not in out["refunds_by_city"]  # from the polarity: rises are bad news
    assert out["items_total"]["severity"] == {"min_severity": "critical"}
    for spec in out.values():
        parse_monitor(spec)  # every suggestion is a valid monitor
    again = suggest_monitors(facts, existing=["gmv", "refunds", "items"])
    assert again == []


def test_one_language_and_sparkline() -> None:
    from metricloop.ui.data import one_language, sparkline_svg

    assert one_language("outage: 支付故障 / payment outage", "en") == "payment outage"
    assert one_language("支付故障\n\nPayment outage", "zh-CN") == "支付故障"
    assert one_language("only English", "zh-CN") == "only English"
    svg = sparkline_svg([1.0, None, 3.0, 2.0], shade=(2, 3), testid="w")
    assert 'data-testid="w"' in svg and "<polyline" in svg and 'data-testid="w-window"' in svg
