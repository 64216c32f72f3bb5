"""Pure rules: the lifecycle's declared transitions, owners.yaml, grouping, inhibition, silences."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from metricloop.errors import ConflictError, DefinitionError
from metricloop.scaffold import DEMO_TEMPLATE
from metricloop.workflow import lifecycle
from metricloop.workflow.grouping import (
    OpenIncident,
    SilenceRule,
    common_slice,
    group_alerts,
    inhibited,
    normalize_severity,
    silenced_by,
)
from metricloop.workflow.owners import assign, escalation_target, load_owners
from tests.workflow.conftest import T0, alert

H = dt.timedelta(hours=1)


# ------------------------------------------------------------------------------ lifecycle
def test_happy_path_through_every_state() -> None:
    state = "triggered"
    for action, expected in [("ack", "acknowledged"), ("investigate", "investigating"), ("mitigate", "mitigated"),
                             ("resolve", "verifying"), ("close", "closed")]:
        state = lifecycle.transition(state, action, comment="done")
        assert state == expected


def test_illegal_transition_names_the_allowed_actions_in_both_languages() -> None:
    with pytest.raises(ConflictError) as e:
        lifecycle.transition("triggered", "close")
    assert "allowed: ack, investigate, false_positive, duplicate" in e.value.message
    assert e.value.message_zh and "已触发" in e.value.message_zh
    for terminal in lifecycle.TERMINAL_STATES:
        assert lifecycle.allowed_actions(terminal) == []


def test_resolve_and_false_positive_need_a_comment_duplicate_needs_a_target() -> None:
    with pytest.raises(ConflictError, match="needs a comment"):
        lifecycle.transition("acknowledged", "resolve", comment="  ")
    with pytest.raises(ConflictError, match="needs a comment"):
        lifecycle.transition("triggered", "false_positive")
    with pytest.raises(ConflictError, match="duplicates"):
        lifecycle.transition("investigating", "duplicate")
    assert lifecycle.transition("investigating", "duplicate", duplicate_of=3) == "duplicate"


def test_every_rule_targets_a_declared_state() -> None:
    for r in lifecycle.RULES:
        assert r.target in lifecycle.STATES
        assert set(r.sources) <= set(lifecycle.STATES)


# ------------------------------------------------------------------------------ owners.yaml
@pytest.fixture
def owners_path(tmp_path: Path) -> Path:
    shutil.copytree(DEMO_TEMPLATE, tmp_path / "p")
    return tmp_path / "p" / "owners.yaml"


CHANNELS = ["ops-dingtalk", "region-wecom", "pay-feishu", "ops-webhook", "ops-email"]


def test_demo_owners_route_by_slice_then_metric_then_catalog(owners_path: Path) -> None:
    o = load_owners(owners_path, channels=CHANNELS)
    east = assign(o, "gmv", {"region": "华东", "channel": "app"}, ["wang.fang"])
    assert (east.owner, east.team, east.channels) == ("he.jing", "region_east", ("region-wecom",))
    pay = assign(o, "payment_success_rate", {"province": "广东"}, ["chen.jie"])
    assert (pay.owner, pay.channels) == ("chen.jie", ("pay-feishu",))
    gmv = assign(o, "gmv", {}, ["wang.fang", "zhao.lei"])
    assert (gmv.owner, gmv.team, gmv.channels) == ("wang.fang", "trade", ("ops-dingtalk", "ops-webhook"))
    assert gmv.rule.startswith("rules[10]")
    chain = [escalation_target(o, s, "he.jing", "region_east") for s in o.escalation]
    assert chain == ["he.jing", "he.jing", "li.na"]


def test_unknown_key_and_bad_reference_are_located(owners_path: Path) -> None:
    text = owners_path.read_text(encoding="utf-8")
    owners_path.write_text(text.replace("  - {slice: {region: 华北}, owner: ma.chao}",
                                        "  - {slice: {region: 华北}, owner: ma.chao, ownr: x}"), encoding="utf-8")
    with pytest.raises(DefinitionError) as e:
        load_owners(owners_path)
    issue = e.value.issues[0]
    assert issue.location.field == "rules[1].ownr" and issue.location.line is not None
    assert "unknown key" in issue.message
    owners_path.write_text(text.replace("owner: ma.chao}", "owner: nobody}").replace(
        "channels: [ops-dingtalk, ops-webhook]", "channels: [ops-dingtalk, pager]"), encoding="utf-8")
    with pytest.raises(DefinitionError) as e:
        load_owners(owners_path, channels=CHANNELS)
    found = {(i.location.field, i.message) for i in e.value.issues}
    assert ("rules[1].owner", "unknown person 'nobody' (or use team:<id> / from_catalog)") in found
    assert ("channels[1]", "unknown channel 'pager' (not in channels.yaml)") in found
    lines = {i.location.field: i.location.line for i in e.value.issues}
    assert lines["rules[1].owner"] == text.splitlines().index("  - {slice: {region: 华北}, owner: ma.chao}") + 1


def test_bad_duration_and_severity_are_rejected(owners_path: Path) -> None:
    text = owners_path.read_text(encoding="utf-8")
    owners_path.write_text(text.replace("critical: 15 minutes,", "urgent: 15 minutes,", 1), encoding="utf-8")
    with pytest.raises(DefinitionError, match="'urgent' is not one of critical"):
        load_owners(owners_path)
    owners_path.write_text(text.replace("{after: 2 hours, to: team_lead}", "{after: soon, to: team_lead}"),
                           encoding="utf-8")
    with pytest.raises(DefinitionError, match="not a duration"):
        load_owners(owners_path)


# ------------------------------------------------------------------------------ grouping
def test_one_metric_one_window_is_one_incident_other_metrics_and_windows_are_not() -> None:
    alerts = [alert("a", "gmv", {"region": "华东"}), alert("b", "gmv", {"region": "华北"}, start=T0 + H),
              alert("c", "orders"), alert("d", "gmv", start=T0 + 30 * H)]
    g = group_alerts(alerts, [], {}, dt.timedelta(hours=6))
    assert sorted(sorted(a.fingerprint for a in grp.alerts) for grp in g.groups) == [["a", "b"], ["c"], ["d"]]


def test_known_fingerprint_is_a_duplicate_and_open_incident_absorbs_its_window() -> None:
    open_inc = OpenIncident(7, "gmv", T0, T0 + 2 * H)
    g = group_alerts([alert("old"), alert("new", start=T0 + 5 * H)], [open_inc], {"old": 7}, dt.timedelta(hours=6))
    assert [(a.fingerprint, i) for a, i in g.duplicates] == [("old", 7)]
    assert len(g.groups) == 1 and g.groups[0].incident_id == 7
    assert g.groups[0].window_end == T0 + 7 * H


def test_children_are_inhibited_by_their_closest_parent() -> None:
    slices = [{"region": "华东"}, {"region": "华东", "channel": "app"},
              {"region": "华东", "channel": "app", "province": "上海"}, {"region": "华北"}]
    assert inhibited(slices) == {1: 0, 2: 1}
    assert common_slice(slices[:3]) == {"region": "华东"}
    assert common_slice(slices) == {}


def test_silences_match_metric_glob_monitor_and_slice_within_their_time() -> None:
    s = SilenceRule(1, "maintenance", "pay*", "*", {"province": "广东"}, T0, T0 + 4 * H)
    a = alert("x", "payment_success_rate", {"province": "广东", "payment_method": "wechat_pay"})
    assert silenced_by(a, [s], T0 + H) is s
    assert silenced_by(a, [s], T0 + 5 * H) is None
    assert silenced_by(alert("y", "payment_success_rate", {"province": "浙江"}), [s], T0) is None
    assert silenced_by(alert("z", "gmv", {"province": "广东"}), [s], T0) is None


def test_detector_severities_map_onto_notification_severities() -> None:
    assert [normalize_severity(x) for x in ("warning", "critical", 2, 1, "LOW")] == [
        "high", "critical", "critical", "high", "low"]
    with pytest.raises(ValueError, match="severity 'loud'"):
        normalize_severity("loud")


# ------------------------------------------------------------------------------ bands
def test_a_rate_band_is_clamped_to_0_100_percent_a_change_or_an_amount_is_not(owners_path: Path) -> None:
    from metricloop.catalog.bounds import RATE, bounds_of
    from metricloop.catalog.catalog import load_catalog
    from metricloop.workflow.bands import bounded

    catalog = load_catalog(owners_path.parent)
    assert bounds_of(catalog.metric("payment_success_rate")) == RATE
    assert bounds_of(catalog.metric("gmv_wow")) is None  # week over week: -20 % and +150 % are real
    assert bounds_of(catalog.metric("gmv")) is None
    alert_row = {"actual": 0.999, "expected": 0.995, "lower": -0.01, "upper": 1.013, "series": "x"}
    assert bounded(alert_row, RATE) == {**alert_row, "lower": 0.0, "upper": 1.0}
    chart = {"value": [1.2, None], "lower": [0.9, None], "upper": [1.05, 0.99]}
    assert bounded(chart, RATE) == {"value": [1.2, None], "lower": [0.9, None], "upper": [1.0, 0.99]}
