"""``explore:`` on a monitor (real DuckDB warehouse, real state store): a drop confined to one
city × cuisine combination under a city monitor is found and named, combinations too small for
a band are not explored, and a wrong ``explore`` names the file, line and field."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metricloop import loop
from metricloop.detect.explore import select_combinations
from metricloop.errors import DefinitionError
from metricloop.project_check import translate
from metricloop.service import MetricLoop
from metricloop.store.workflow_models import Incident

START = dt.datetime(2026, 1, 5)  # a Monday
LAST = dt.datetime(2026, 2, 13, 23)  # six weeks of hours
DROP = (dt.datetime(2026, 2, 13, 10), dt.datetime(2026, 2, 13, 14))
AT = dt.datetime(2026, 2, 14, 1, 5)
CITIES = {"east": 400.0, "west": 300.0, "north": 200.0}
# 0.4 % of every city's orders are 甜品: too small to explore (default explore_min_share 1 %)
CUISINES = {"快餐": 0.5, "火锅": 0.306, "烧烤": 0.19, "甜品": 0.004}

MODELS = textwrap.dedent("""\
    semantic_models:
      - name: delivery
        table: delivery
        defaults: {agg_time_dimension: hour}
        dimensions:
          - {name: hour, type: time, type_params: {time_granularity: hour}}
          - {name: city, type: categorical}
          - {name: cuisine, type: categorical}
        measures:
          - {name: order_count, agg: sum, expr: orders}
    metrics:
      - {name: orders, measure: order_count, polarity: higher_is_better}
    """)

MONITOR = textwrap.dedent("""\
    name: orders_by_city
    metric: orders
    by: [city]
    explore: [city, cuisine]
    grain: hour
    detectors:
      - type: seasonal
        params: {warning: 4, critical: 6}
    noise:
      min_rel_deviation: 0.2
      consecutive: 2
    """)


def facts(drops: list[tuple[str, str]]) -> pd.DataFrame:
    """Hourly orders per city × cuisine (daily shape, 3 % noise); each ``(city, cuisine)`` of
    ``drops`` keeps 10 % of its orders during ``DROP``."""
    rng = np.random.default_rng(3)
    hours = pd.date_range(START, LAST, freq="h")
    shape = 1.0 + 0.6 * np.sin((hours.hour.to_numpy() - 6) / 24 * 2 * np.pi)
    frames = []
    for city, level in CITIES.items():
        for cuisine, share in CUISINES.items():
            values = 10 * level * share * shape * rng.normal(1.0, 0.03, len(hours))
            if (city, cuisine) in drops:
                values[(hours >= DROP[0]) & (hours <= DROP[1])] *= 0.1
            frames.append(pd.DataFrame({"hour": hours, "city": city, "cuisine": cuisine,
                                        "orders": np.round(values).astype(int)}))
    return pd.concat(frames, ignore_index=True)


def write_project(root: Path, monitor: str = MONITOR, state_url: str | None = None) -> Path:
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "monitors").mkdir(exist_ok=True)
    state = f"state:\n  url: {state_url}\n" if state_url else ""
    (root / "metricloop.yaml").write_text(
        f"name: explore\ntimezone: Asia/Shanghai\n{state}tables:\n  delivery: {{time_column: hour}}\n",
        encoding="utf-8")
    (root / "models" / "delivery.yaml").write_text(MODELS, encoding="utf-8")
    (root / "monitors" / "orders.yaml").write_text(monitor, encoding="utf-8")
    return root


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ml(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetricLoop]:
    url = request.getfixturevalue("fresh_postgres_url") if request.param == "postgres" else None
    ml = MetricLoop.open(write_project(tmp_path / "proj", state_url=url))
    yield ml
    ml.close()


def load(ml: MetricLoop, frame: pd.DataFrame, tmp: Path) -> None:
    path = tmp / "delivery.csv"
    frame.to_csv(path, index=False)
    ml.ingest(str(path), "delivery", mode="replace")


def test_a_drop_in_one_combination_under_a_city_monitor_is_found_and_named(ml: MetricLoop, tmp_path: Path) -> None:
    # 烧烤 is 19 % of east: east loses ~17 %, inside what the city monitor alerts on (20 %)
    load(ml, facts([("east", "烧烤")]), tmp_path)
    report = ml.detection.run(at=AT)
    [mon] = report.monitors
    assert mon.status == "ok"
    # the total, 3 cities and the 9 combinations above 1 % (3 cities × 3 cuisines)
    assert mon.series == 1 + 3 + 9
    [event] = report.events
    assert event.slice == {"city": "east", "cuisine": "烧烤"} and event.monitor == "orders_by_city"
    assert event.start == DROP[0] and event.end == DROP[1]
    assert event.actual is not None and event.expected is not None and event.actual < 0.2 * event.expected

    # the loop opens an incident that names the combination
    loop.run_pass(ml, AT, notify=False)
    with ml.store.session() as s:
        [incident] = s.query(Incident).all()
        assert incident.slice == {"city": "east", "cuisine": "烧烤"}
        assert incident.metric == "orders"


def test_combinations_too_small_for_a_band_are_not_explored(ml: MetricLoop, tmp_path: Path) -> None:
    # 甜品 (0.4 % of orders) vanishes in north: below explore_min_share, so nobody is told
    load(ml, facts([("north", "甜品")]), tmp_path)
    report = ml.detection.run(at=AT)
    assert report.monitors[0].series == 1 + 3 + 9
    assert report.events == []
    chart = ml.detection.backtest("orders_by_city", "2026-02-13", "2026-02-13", max_series=50)
    shown = [s["slice"] for s in chart["series"]]
    assert {"city": "east", "cuisine": "快餐"} in shown
    assert not any(s.get("cuisine") == "甜品" for s in shown)


def test_explore_top_bounds_the_combinations(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", MONITOR.replace("explore: [city, cuisine]\n",
                                                         "explore: [city, cuisine]\nexplore_top: 4\n"))
    ml = MetricLoop.open(root)
    try:
        load(ml, facts([]), tmp_path)
        chart = ml.detection.backtest("orders_by_city", "2026-02-13", "2026-02-13", max_series=50)
        explored = [s["slice"] for s in chart["series"] if "cuisine" in s["slice"]]
        # the four largest: 快餐 in each city, then 火锅 in east
        assert sorted(map(str, explored)) == sorted(map(str, [
            {"city": "east", "cuisine": "快餐"}, {"city": "west", "cuisine": "快餐"},
            {"city": "north", "cuisine": "快餐"}, {"city": "east", "cuisine": "火锅"}]))
    finally:
        ml.close()


def test_a_monitor_of_combinations_only(tmp_path: Path) -> None:
    # no `by`, `total: false`: one monitor watches only the combinations (its own noise rules)
    only = MONITOR.replace("by: [city]\n", "total: false\n")
    ml = MetricLoop.open(write_project(tmp_path / "p", only))
    try:
        load(ml, facts([("west", "火锅")]), tmp_path)
        report = ml.detection.run(at=AT)
        assert report.monitors[0].series == 9
        [event] = report.events
        assert event.slice == {"city": "west", "cuisine": "火锅"}
    finally:
        ml.close()


def test_selection_is_by_share_then_size_and_ties_are_stable() -> None:
    keys = [{"c": "b"}, {"c": "a"}, {"c": "tiny"}, {"c": "z"}]
    volume = np.array([40.0, 40.0, 0.5, 19.5])
    assert select_combinations(volume, keys, top=10, min_share=0.01).tolist() == [1, 0, 3]
    assert select_combinations(volume, keys, top=2, min_share=0.0).tolist() == [1, 0]
    assert select_combinations(volume[[3, 2, 1, 0]], keys[::-1], top=2, min_share=0.0).tolist() == [2, 3]
    assert select_combinations(np.zeros(3), keys[:3], top=5, min_share=0.0).tolist() == []
    # a combination with an open anomaly stays explored below the cut (never retracted for slipping)
    assert select_combinations(volume, keys, top=2, min_share=0.01, keep={"c=z"}).tolist() == [1, 0, 3]


def test_an_open_anomaly_keeps_its_combination_explored(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", MONITOR.replace("explore: [city, cuisine]\n",
                                                         "explore: [city, cuisine]\nexplore_top: 3\n"))
    ml = MetricLoop.open(root)
    try:
        load(ml, facts([("east", "烧烤")]), tmp_path)
        spec = ml.detection.monitor("orders_by_city").spec
        first, last = dt.datetime(2026, 1, 5), dt.datetime(2026, 2, 13, 23)
        top3 = ml.detection.load_series(spec, first, last).explored
        assert top3 is not None and top3.keys is not None
        assert {"city": "east", "cuisine": "烧烤"} not in top3.keys
        held = ml.detection.load_series(spec, first, last, explored=["city=east,cuisine=烧烤"]).explored
        assert held is not None and held.keys is not None and len(held.keys) == 4
        assert held.keys[-1] == {"city": "east", "cuisine": "烧烤"}
    finally:
        ml.close()


@pytest.mark.parametrize(("explore", "field", "expected"), [
    ("[city, cusine]", "explore[1]", "has no dimension 'cusine' to explore"),
    ("[city]", "explore", "`explore` must name a dimension that `by` does not"),
    ("[cuisine, cuisine]", "explore", "dimensions in `explore` must be distinct"),
])
def test_a_wrong_explore_names_the_file_line_and_field(tmp_path: Path, explore: str, field: str,
                                                      expected: str) -> None:
    root = write_project(tmp_path / "p", MONITOR.replace("[city, cuisine]", explore))
    ml = MetricLoop.open(root)
    try:
        with pytest.raises(DefinitionError) as info:
            ml.detection.monitors()
        [issue] = info.value.issues
        assert issue.location.file == "monitors/orders.yaml" and issue.location.line == 4
        assert issue.location.field == field
        assert expected in issue.message
        zh = translate(issue.message, "zh-CN")
        assert zh != issue.message and "explore" in zh  # the Chinese text names the field too
    finally:
        ml.close()


def test_the_bench_explore_variant_is_the_hand_written_monitors_plus_one(tmp_path: Path) -> None:
    """docs/examples/bench-loop-explore.yaml (what CHANGELOG's explore figures were measured with)
    is valid and holds the bench's hand-written monitors unchanged plus the one that explores."""
    from metricloop.bench.loop_company import MONITORS_YAML
    from metricloop.detect.monitors import parse_document
    from metricloop.yamlio import load_document

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "hand.yaml").write_text(MONITORS_YAML, encoding="utf-8")
    variant, issues = parse_document(load_document(repo / "docs/examples/bench-loop-explore.yaml", repo), None)
    hand, _ = parse_document(load_document(tmp_path / "hand.yaml", tmp_path), None)
    assert issues == []
    assert [m.spec for m in variant[:-1]] == [m.spec for m in hand]
    extra = variant[-1].spec
    assert extra.explore == ["city", "cuisine"] and extra.by == [] and extra.total
