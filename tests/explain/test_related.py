"""Related anomalies rank by time proximity and metric-tree relation."""

from __future__ import annotations

from datetime import datetime, timedelta

from metricloop.explain import AnomalyEvent, TreeEdge, rank_related

T0 = datetime(2024, 5, 1, 10, 0)
EDGES = [
    TreeEdge("revenue", "orders", "multiplicative"),
    TreeEdge("revenue", "aov", "multiplicative"),
    TreeEdge("orders", "sessions", "multiplicative"),
    TreeEdge("orders", "cvr", "multiplicative"),
]


def ev(metric: str, hours: float = 0.0, slice: dict[str, str] | None = None, score: float = 1.0) -> AnomalyEvent:
    start = T0 + timedelta(hours=hours)
    return AnomalyEvent.of(metric, slice, start, start + timedelta(hours=1), score=score, id=f"{metric}{hours}{slice}")


def test_driver_in_the_same_window_ranks_first() -> None:
    target = ev("revenue", slice={"province": "浙江"})
    others = [
        ev("weather_index"),                          # unrelated metric, same time
        ev("orders", hours=30),                       # driver, a day later
        ev("orders", slice={"province": "浙江"}),      # driver, same time, same slice
        ev("cvr"),                                    # driver of a driver, same time
        ev("aov", slice={"province": "江苏"}),          # sibling slice conflict, same time
    ]
    ranked = rank_related(target, others, EDGES)
    assert [(r.event.metric, r.relation) for r in ranked] == [
        ("orders", "driver"),        # same slice, same time
        ("aov", "driver"),           # the other province halves it
        ("cvr", "tree"),             # two edges away
        ("weather_index", "unrelated"),
        ("orders", "driver"),        # a day later: time proximity near zero
    ]
    assert ranked[0].event.slice == (("province", "浙江"),)
    assert ranked[1].relation_score == ranked[0].relation_score / 2


def test_same_metric_sub_slice_beats_an_unrelated_slice() -> None:
    target = ev("revenue", slice={"province": "浙江"})
    sub = ev("revenue", slice={"province": "浙江", "channel": "app"})
    other = ev("revenue", slice={"province": "江苏"})
    ranked = rank_related(target, [other, sub], EDGES)
    assert [r.relation for r in ranked] == ["sub_slice", "other_slice"]


def test_time_proximity_decays_and_target_itself_is_skipped() -> None:
    target = ev("revenue")
    near, far = ev("orders", hours=2), ev("orders", hours=12)
    ranked = rank_related(target, [far, target, near], EDGES)
    assert [r.event for r in ranked] == [near, far]
    assert ranked[0].time_score > ranked[1].time_score
    assert "orders" in ranked[0].reason.render("en")
    assert "小时" in ranked[0].reason.render("zh-CN")
