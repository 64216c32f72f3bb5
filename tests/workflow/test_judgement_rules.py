"""The loop's judgement as pure rules: one incident per event across the metric tree, the owner of
the cause, and the baseline an incident is explained against."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from metricloop.explain.baseline import baseline_weeks, monitor_expected_total
from metricloop.workflow.grouping import MetricTree, OpenIncident, compatible, group_alerts
from metricloop.workflow.owners import OwnersFile, route
from tests.workflow.conftest import T0, alert

H = dt.timedelta(hours=1)
W = dt.timedelta(hours=6)
# conversion = orders / sessions; aov = gmv / orders (gmv and orders feed aov)
TREE = MetricTree.from_edges([("conversion", "orders"), ("conversion", "sessions"), ("aov", "gmv"),
                              ("aov", "orders")], tiers={"gmv": 0})


# ------------------------------------------------------------------------------ one incident per event
def test_related_metrics_on_compatible_slices_at_overlapping_times_are_one_incident() -> None:
    alerts = [alert("o", "orders", {"city": "南京"}), alert("g", "gmv", {"city": "南京"}, start=T0 + H),
              alert("c", "conversion", {"city": "南京", "platform": "app"}, start=T0 + 2 * H),
              alert("x", "gmv", {"city": "上海"}, start=T0 + H),  # another city: its own event
              alert("r", "refund_rate", {"city": "南京"})]  # not in the tree: its own incident
    g = group_alerts(alerts, [], {}, W, TREE)
    got = sorted(sorted(a.fingerprint for a in grp.alerts) for grp in g.groups)
    assert got == [["c", "g", "o"], ["r"], ["x"]]
    joined = next(grp for grp in g.groups if len(grp.alerts) == 3)
    # the root metric names the incident: conversion is above orders in the tree
    assert TREE.ordered([a.metric for a in joined.alerts]) == ["conversion", "orders", "gmv"]
    # without the tree, each metric is its own incident as before (both gmv alerts share one)
    assert len(group_alerts(alerts, [], {}, W).groups) == 4


def test_an_alert_of_a_related_metric_joins_the_open_incident_but_not_a_later_one() -> None:
    open_inc = OpenIncident(7, "orders", T0, T0 + 3 * H, metrics=frozenset({"orders"}), slices=({"city": "南京"},))
    g = group_alerts([alert("g", "gmv", {"city": "南京"}, start=T0 + 2 * H),
                      alert("late", "gmv", {"city": "南京"}, start=T0 + 30 * H)], [open_inc], {}, W, TREE)
    by_incident = {grp.incident_id: [a.fingerprint for a in grp.alerts] for grp in g.groups}
    assert by_incident == {7: ["g"], None: ["late"]}


def test_distinct_events_at_the_same_time_stay_distinct_unless_an_explanation_ties_them() -> None:
    # refund_rate = refunds / orders: it shares orders (and, below, sessions) with gmv and conversion
    tree = MetricTree.from_edges([("refund_rate", "refunds"), ("refund_rate", "orders"), ("gmv", "orders"),
                                  ("orders", "sessions")], tiers={"gmv": 0})
    refund = alert("refund", "refund_rate", {"category": "食品"}, hours=24)
    elsewhere = alert("dip", "sessions", {"region": "东北", "channel": "mini_program"}, start=T0 + 3 * H)
    # the total's own leading slices are merely the largest ones (no cause, none dominant)
    total = replace(alert("total", "sessions", {}, start=T0 + 5 * H), explanation={
        "kind": "leading_slices", "slices": [{"region": "华东"}, {"channel": "mini_program"}],
        "contributions": [0.4, 0.3]})
    got = group_alerts([refund, elsewhere, total], [], {}, W, tree)
    # a refund surge on 食品, a sessions dip in 东北 and a total's blip are three events
    assert sorted(sorted(a.fingerprint for a in grp.alerts) for grp in got.groups) == [["dip", "total"], ["refund"]]
    # (the two sessions alerts share an incident by the same-metric rule, as before the tree)
    # the total joins the 食品 alerts when its explanation names 食品: the child explains the change
    food_total = replace(alert("gmv", "gmv", {}, start=T0 + 2 * H), explanation={
        "kind": "causes", "slices": [{"category": "食品"}]})
    assert [len(grp.alerts) for grp in group_alerts([refund, food_total], [], {}, W, tree).groups] == [2]
    # ... or a leading slice carrying most of it; the same for an open incident's stored alerts
    led = replace(food_total, explanation={"kind": "leading_slices", "slices": [{"category": "食品"}],
                                           "contributions": [0.9]})
    assert [len(grp.alerts) for grp in group_alerts([refund, led], [], {}, W, tree).groups] == [2]
    open_refund = OpenIncident(3, "refund_rate", T0, T0 + 24 * H, frozenset({"refund_rate"}), ({"category": "食品"},))
    by_incident = {grp.incident_id: [a.fingerprint for a in grp.alerts]
                   for grp in group_alerts([elsewhere, food_total], [open_refund], {}, W, tree).groups}
    assert by_incident == {3: ["gmv"], None: ["dip"]}


def test_tree_distance_root_and_slice_compatibility() -> None:
    assert TREE.distance("gmv", "conversion") == 3 and TREE.related("gmv", "conversion")
    assert TREE.distance("gmv", "refund_rate") is None
    assert TREE.root(["gmv", "sessions"]) == "gmv"  # neither above the other: the north star
    assert TREE.root(["sessions", "orders"]) == "sessions"  # nor here, same tier: the first alert's
    assert compatible({"city": "南京"}, {}) and compatible({"city": "南京"}, {"platform": "app"})
    assert not compatible({"city": "南京"}, {"city": "上海"})


# ------------------------------------------------------------------------------ the owner of the cause
OWNERS = OwnersFile.model_validate({
    "people": {"gu": {"name": "顾增长", "team": "growth"}, "pan": {"name": "潘平台", "team": "platform"},
               "nj": {"name": "宁城市", "team": "city"}},
    "teams": {"growth": {"lead": "gu"}, "platform": {"lead": "pan"}, "city": {"lead": "nj"}},
    "rules": [{"slice": {"platform": "app"}, "owner": "pan"},
              {"metric": "gmv", "slice": {"city": "南京"}, "owner": "nj"},
              {"metric": "conversion", "owner": "gu"}],
})


def test_an_incident_goes_to_the_owner_of_its_cause_and_says_why() -> None:
    # the rules apply to the cause slice, first match wins: the app owner, not the growth lead
    by_cause = route(OWNERS, "conversion", {"city": "南京"}, {"city": "南京", "platform": "app"})
    assert (by_cause.owner, by_cause.team, by_cause.by) == ("pan", "platform", "cause")
    assert by_cause.rule == "rules[0] platform=app"
    assert by_cause.reason is not None
    assert by_cause.reason.en == ("the cause city=南京&platform=app matches rules[0] (platform=app) of owners.yaml: "
                                  "潘平台")
    assert "原因切片 city=南京&platform=app" in by_cause.reason.zh
    assert by_cause.routing()["cause"] == {"city": "南京", "platform": "app"}
    # without a cause the alerting slice decides, as before
    plain = route(OWNERS, "conversion", {"city": "南京"})
    assert (plain.owner, plain.by, plain.rule) == ("gu", "slice", "rules[2] metric=conversion")
    assert plain.reason is not None and "matches conversion on city=南京: 顾增长" in plain.reason.en
    # a cause no rule names: the rule that matched says it matched the cause slice
    other = route(OWNERS, "gmv", {"city": "南京"}, {"city": "南京", "cuisine": "川菜"})
    assert (other.owner, other.by) == ("nj", "slice")
    assert other.reason is not None and "on the cause city=南京&cuisine=川菜: 宁城市" in other.reason.en
    nobody = route(OWNERS, "orders", {})
    assert nobody.owner is None and nobody.by == "none"
    assert nobody.reason is not None and "总体" in nobody.reason.zh


# ------------------------------------------------------------------------------ the baseline
def test_the_baseline_week_skips_weeks_the_monitors_flagged() -> None:
    start, end = dt.datetime(2026, 5, 20, 8), dt.datetime(2026, 5, 20, 18)
    assert baseline_weeks(start, end, []) == 1
    last_week_drop = (dt.datetime(2026, 5, 13, 12), dt.datetime(2026, 5, 13, 14))
    assert baseline_weeks(start, end, [last_week_drop]) == 2
    assert baseline_weeks(start, end, [(start - dt.timedelta(days=20), start)]) == 3
    assert baseline_weeks(start, end, [(start - dt.timedelta(days=40), start)]) == 1  # all disturbed: last week
    # a window longer than a week starts with the first shift clear of itself
    assert baseline_weeks(start, start + dt.timedelta(days=9), []) == 2


def test_the_monitors_expected_total_takes_back_what_its_alerts_measured() -> None:
    # a drop measured as 300 below expectation over its points: 700 actual means 1,000 expected
    assert monitor_expected_total(700.0, [(50.0, 90.0, 300.0)]) == 1000.0
    assert monitor_expected_total(700.0, []) is None
    assert monitor_expected_total(700.0, [(None, 90.0, 300.0)]) is None
    assert monitor_expected_total(10.0, [(500.0, 1.0, 900.0)]) is None  # not a plausible level


def test_routing_is_read_back_from_the_audit_trail() -> None:
    from metricloop.workflow.routing import cause_of, cause_slice, routing_of

    opened = {"kind": "opened", "actor": "system", "after": {"routing": {"owner": "gu", "by": "slice"}}}
    moved = {"kind": "assign", "actor": "system", "after": {"owner": "pan", "routing": {"owner": "pan", "by": "cause"}}}
    by_hand = {"kind": "assign", "actor": "nj", "after": {"owner": "nj", "team": "city"}}
    assert routing_of([opened]) == {"owner": "gu", "by": "slice"}
    assert routing_of([opened, moved])["by"] == "cause"  # type: ignore[index]
    assert routing_of([opened, moved, by_hand])["by"] == "person"  # type: ignore[index]
    assert cause_slice({"kind": "leading_slices", "slices": [{"city": "南京"}]}) is None
    cause = {"city": "南京", "cuisine": "川菜"}
    named = replace(alert("a", "orders", {"city": "南京"}), explanation={"kind": "causes", "slices": [cause]})
    assert cause_of([alert("b", "gmv"), named], "gmv") == (cause, "cause")
    # nothing significant, but one slice carries nearly all of the change: routed by it, and said so
    leader = replace(alert("c", "gmv"), explanation={"kind": "leading_slices", "slices": [{"platform": "app"}],
                                                      "contributions": [0.98]})
    assert cause_of([leader], "gmv") == ({"platform": "app"}, "leading")
    weak = replace(leader, explanation={**(leader.explanation or {}), "contributions": [0.5]})
    assert cause_of([weak], "gmv") is None
    led = route(OWNERS, "conversion", {}, {"platform": "app"}, basis="leading")
    assert (led.owner, led.by) == ("pan", "leading") and led.reason is not None
    assert led.reason.en.startswith("the leading slice platform=app matches rules[0]")


def test_causes_only_the_alerts_named_are_listed_after_the_incidents_own() -> None:
    from metricloop.explain.incident import with_alert_causes

    payload = {"kind": "causes", "scope": {}, "slices": [{"cuisine": "烧烤夜宵"}], "keys": ["cuisine=烧烤夜宵"],
               "contributions": [0.95], "causes": [{"en": "cuisine=烧烤夜宵", "zh-CN": "cuisine=烧烤夜宵"}]}
    total = {"kind": "causes", "slices": [{"cuisine": "烧烤夜宵"}, {"city": "北京"}], "contributions": [0.7, 0.3]}
    city = {"kind": "causes", "slices": [{"city": "杭州", "cuisine": "烧烤夜宵"}], "contributions": [1.0]}
    out = with_alert_causes(payload, [total, city, {"kind": "leading_slices", "slices": [{"city": "上海"}]}, None])
    # 北京 was named by an alert over its own window; 杭州 × 烧烤夜宵 lies within the incident's own cause
    assert out["slices"] == [{"cuisine": "烧烤夜宵"}, {"city": "北京"}]
    assert out["sources"] == ["incident", "alerts"]
    assert out["causes"][1] == {"en": "also named by 1 of its alerts: city=北京",
                                "zh-CN": "另有 1 条告警的归因指向：city=北京"}
    assert with_alert_causes(payload, [city]) is payload  # nothing new: unchanged
