"""`bench loop`'s scoring on hand-built incidents and truth: what counts as found, false, a
duplicate, the right owner and the true slice's rank — so the figures the loop is judged by
mean what the README says."""

from __future__ import annotations

import datetime as dt

from metricloop.bench.loop import Observed, assign, compatible, goal_met, matches, score, slice_rank, table
from metricloop.bench.loop_company import Truth, moved_metrics, owner_for

T0 = dt.datetime(2025, 6, 2)


def _truth(id_: str, slice_: dict[str, str], start_h: int, hours: int, metrics: list[str], owner: str) -> Truth:
    start = T0 + dt.timedelta(hours=start_h)
    return Truth(id=id_, kind="test", slice=slice_, start=start, end=start + dt.timedelta(hours=hours),
                 multipliers={}, metrics=metrics, root_metric=metrics[0], owner=owner, tags=[], description="")


def _inc(id_: int, metric: str, slice_: dict[str, str], start_h: int, end_h: int, owner: str, *,
         kind: str = "causes", slices: list[dict[str, str]] | None = None) -> Observed:
    return Observed(id=id_, metric=metric, metrics=[metric], slice=slice_, owner=owner,
                    start=T0 + dt.timedelta(hours=start_h), end=T0 + dt.timedelta(hours=end_h),
                    opened=T0 + dt.timedelta(hours=end_h + 1), kind=kind, slices=slices or [])


OUTAGE = _truth("outage", {"platform": "app"}, 10, 4, ["gmv", "orders", "conversion_rate"], "wu.hao")
HOTPOT = _truth("hotpot", {"city": "成都", "cuisine": "火锅"}, 100, 8, ["gmv", "orders", "conversion_rate"],
                "luo.jun")
MISSED = _truth("missed", {"city": "上海", "cuisine": "快餐便当"}, 200, 5, ["gmv", "orders", "sessions"], "gao.lan")


def test_slices_match_when_no_dimension_disagrees() -> None:
    assert compatible({"city": "南京"}, {"city": "南京", "platform": "app"})
    assert compatible({"city": "南京"}, {"platform": "app"})  # 南京's share of an app outage
    assert compatible({}, {"city": "成都", "cuisine": "火锅"})  # the total
    assert not compatible({"city": "上海"}, {"city": "成都", "cuisine": "火锅"})


def test_an_incident_matches_on_time_metric_and_slice() -> None:
    on_time = _inc(1, "gmv", {"city": "成都"}, 101, 106, "luo.jun")
    assert matches(on_time, HOTPOT)
    assert not matches(_inc(2, "gmv", {"city": "上海"}, 101, 106, "x"), HOTPOT)  # another city
    assert not matches(_inc(3, "sessions", {"city": "成都"}, 101, 106, "x"), HOTPOT)  # a metric it does not move
    assert not matches(_inc(4, "gmv", {"city": "成都"}, 120, 122, "x"), HOTPOT)  # 12 h after it ended
    assert matches(_inc(5, "gmv", {"city": "成都"}, 112, 113, "x"), HOTPOT)  # the recovery, within 6 h


def test_true_slice_rank_within_the_incidents_scope() -> None:
    # a city incident names the 2-D slice below it: rank of {city, cuisine}
    ranked = _inc(1, "gmv", {"city": "成都"}, 101, 106, "luo.jun",
                  slices=[{"city": "成都", "platform": "app"}, {"city": "成都", "cuisine": "火锅"}])
    assert slice_rank(ranked, HOTPOT) == 2
    # an app outage told as one city's app traffic points the owner at the wrong place
    assert slice_rank(_inc(2, "gmv", {"city": "上海"}, 10, 13, "x", slices=[{"city": "上海", "platform": "app"}]),
                      OUTAGE) is None
    assert slice_rank(_inc(2, "gmv", {}, 10, 13, "x", slices=[{"city": "上海"}, {"platform": "app"}]), OUTAGE) == 2
    # the incident's own slice is the truth and no deeper cause is claimed: rank 1
    assert slice_rank(_inc(3, "orders", {"platform": "app"}, 10, 13, "x", kind="leading_slices",
                           slices=[{"platform": "app", "city": "上海"}]), OUTAGE) == 1
    # a deeper, wrong cause under the right scope is a miss
    assert slice_rank(_inc(4, "orders", {"platform": "app"}, 10, 13, "x",
                           slices=[{"platform": "app", "city": "上海"}]), OUTAGE) is None


def test_score_counts_found_false_duplicates_owner_and_causes() -> None:
    incidents = [
        # the outage: three incidents (gmv, orders, conversion), only the first to the right owner
        _inc(1, "gmv", {"platform": "app"}, 10, 13, "wu.hao", kind="leading_slices"),
        _inc(2, "orders", {"platform": "app"}, 11, 13, "zhang.wei", kind="leading_slices"),
        _inc(3, "conversion_rate", {}, 11, 12, "li.min", slices=[{"platform": "app"}]),
        # the hotpot event: one incident with its cause second
        _inc(4, "gmv", {"city": "成都"}, 101, 106, "luo.jun",
             slices=[{"city": "成都", "platform": "h5"}, {"city": "成都", "cuisine": "火锅"}]),
        # a false one (another city, a day later) without any explanation
        _inc(5, "gmv", {"city": "西安"}, 130, 132, "qian.feng", kind="missing"),
    ]
    judged_from, end = T0, T0 + dt.timedelta(days=61)
    r = score(incidents, [OUTAGE, HOTPOT, MISSED], judged_from=judged_from, end=end,
              quiet=(T0 + dt.timedelta(hours=120), T0 + dt.timedelta(hours=150)))
    assert assign(incidents, [OUTAGE, HOTPOT, MISSED]) == {1: "outage", 2: "outage", 3: "outage", 4: "hotpot",
                                                             5: None}
    assert (r["events"], r["found"], r["recall"]) == (3, 2, round(2 / 3, 4))
    assert (r["incidents"], r["true_incidents"], r["false_incidents"]) == (5, 4, 1)
    assert r["false_per_month"] == round(1 / (61 / 30.44), 2) and r["false_in_quiet"] == 1
    assert r["explained"] == 0.8 and r["localized"] == 0.4
    assert r["slice_top1"] == 0.75 and r["slice_top3"] == 1.0
    assert r["owner_right"] == 0.5  # wu.hao and luo.jun right; zhang.wei and li.min wrong
    assert r["incidents_per_event"] == 2.0 and r["events_with_one_incident"] == 0.5
    # delay: from the start to the end of the first anomalous hour of the earliest match
    delays = {e["id"]: e["delay_h"] for e in r["per_event"]}
    assert delays == {"outage": 1.0, "hotpot": 2.0, "missed": None}
    assert goal_met("recall", r["recall"]) is False and goal_met("false_per_month", 0.5) is True
    rows = table([{**r, "seed": 1}])
    assert rows[0]["seed 1"] == "2/3 found; 5 (4 + 1)"
    assert any(row["seed 1"] == "67% ✗" and row["goal"] == "≥ 95%" for row in rows)


def test_truth_metrics_and_owners_follow_the_tree_and_the_rules() -> None:
    assert moved_metrics({"conversion": 0.2}) == ["gmv", "orders", "conversion_rate"]
    assert moved_metrics({"sessions": 2.5, "conversion": 0.4}) == ["conversion_rate", "sessions"]  # orders kept
    assert moved_metrics({"aov": 0.5}) == ["gmv"]
    assert owner_for("gmv", {"city": "南京", "platform": "app"}) == "wu.hao"  # platform rules come first
    assert owner_for("gmv", {"city": "成都", "cuisine": "火锅"}) == "luo.jun"
    assert owner_for("orders", {"cuisine": "奶茶饮品"}) == "tan.xin"
    assert owner_for("conversion_rate", {}) == "li.min" and owner_for("gmv", {}) == "zhang.wei"


def test_an_overlapping_event_merged_into_another_incident_is_found_only_when_named() -> None:
    bbq = _truth("bbq", {"cuisine": "烧烤夜宵"}, 300, 8, ["gmv", "orders"], "tan.xin")
    beijing = _truth("beijing", {"city": "北京"}, 302, 7, ["gmv", "orders", "sessions"], "qian.feng")
    end = T0 + dt.timedelta(days=30)
    # one gmv incident over both evenings, naming only the barbecue slice: 北京 was never reported
    silent = [_inc(1, "gmv", {}, 300, 308, "zhang.wei", slices=[{"cuisine": "烧烤夜宵"}])]
    r = score(silent, [bbq, beijing], judged_from=T0, end=end)
    assert {e["id"]: e["found"] for e in r["per_event"]} == {"bbq": True, "beijing": False}
    # the same incident naming both slices reports both events (one incident for two of them)
    named = [_inc(1, "gmv", {}, 300, 308, "zhang.wei", slices=[{"cuisine": "烧烤夜宵"}, {"city": "北京"}])]
    r = score(named, [bbq, beijing], judged_from=T0, end=end)
    assert r["recall"] == 1.0 and r["incidents_per_event"] == 1.0
    assert {e["id"]: e["delay_h"] for e in r["per_event"]} == {"bbq": 1.0, "beijing": 0.0}


def test_a_false_incident_on_merchant_churn_is_counted_as_such() -> None:
    from metricloop.bench.loop_company import Change

    chain_left = Change("成都", "火锅", (T0 + dt.timedelta(days=3)).date(), 0.8)
    on_it = _inc(1, "gmv", {"city": "成都", "cuisine": "火锅"}, 80, 84, "luo.jun")
    named = _inc(2, "gmv", {"city": "成都"}, 90, 94, "luo.jun", slices=[{"city": "成都", "cuisine": "火锅"}])
    elsewhere = _inc(3, "gmv", {"city": "成都", "cuisine": "粤菜"}, 80, 84, "luo.jun")
    before = _inc(4, "gmv", {"city": "成都", "cuisine": "火锅"}, 10, 12, "luo.jun")
    r = score([on_it, named, elsewhere, before], [], judged_from=T0, end=T0 + dt.timedelta(days=30),
              changes=[chain_left])
    assert (r["false_incidents"], r["false_on_changes"]) == (4, 2)


def test_figures_by_kind_of_incident() -> None:
    two_d = _truth("hotpot", {"city": "成都", "cuisine": "火锅"}, 100, 8, ["gmv"], "luo.jun")
    two_d.tags = ["2d"]
    other = _truth("shanghai", {"city": "上海", "cuisine": "快餐便当"}, 200, 5, ["gmv"], "gao.lan")
    other.tags = ["2d", "lunch"]
    incidents = [_inc(1, "gmv", {"city": "成都"}, 101, 106, "shen.yue", slices=[{"city": "成都", "cuisine": "火锅"}])]
    r = score(incidents, [two_d, other], judged_from=T0, end=T0 + dt.timedelta(days=30))
    assert r["by_tag"] == {
        "2d": {"events": 2, "found": 1, "slice_top3": 1.0, "owner_right": 0.0},
        "lunch": {"events": 1, "found": 0, "slice_top3": None, "owner_right": None},
    }
