"""Deadlines the loop must fire by itself: an acknowledgement that times out re-triggers the
incident, a silence that ends releases the anomalies that outlasted it, reminders stop at the cap
set in owners.yaml — on a real state store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pytest

from metricloop import loop
from metricloop.errors import DefinitionError
from metricloop.service import MetricLoop
from metricloop.workflow.owners import load_owners
from tests.workflow.conftest import T0, Clock, alert

H = dt.timedelta(hours=1)
SLA_LINE = "  remind_every: 4 hours\n"


def set_sla(project: Path, extra: str) -> None:
    path = project / "owners.yaml"
    text = path.read_text(encoding="utf-8")
    assert SLA_LINE in text
    path.write_text(text.replace(SLA_LINE, SLA_LINE + extra), encoding="utf-8")


def message_events(ml: MetricLoop, ref: int) -> list[str]:
    return sorted({m["id"].split("-")[1] for m in ml.workflow.incident(ref)["messages"]})  # once, on any channel


def test_an_acknowledgement_without_progress_times_out_and_the_incident_is_triggered_again(project: Path) -> None:
    set_sla(project, "  ack_timeout: 2 hours\n")
    ml = MetricLoop.open(project)
    try:
        ml.workflow.process([alert("a1", "gmv", {"region": "华东"}, severity="high")], now=T0)
        ml.workflow.act(1, "ack", actor="he.jing", now=T0 + H)
        assert ml.workflow.tick(T0 + 2 * H).fired.get("ack_timeout") is None  # not yet
        rep = ml.workflow.tick(T0 + 3 * H + dt.timedelta(minutes=1))
        assert rep.fired["ack_timeout"] == 1
        inc = ml.workflow.incident(1)
        assert inc["status"] == "triggered" and inc["escalation_level"] == 0
        assert inc["ack_due_at"] == T0 + 3 * H + ml.workflow.owners.sla.ack_within("high")
        last = inc["audit"][-1]
        assert (last["actor"], last["kind"], last["before"], last["after"]) == (
            "system", "transition", {"status": "acknowledged"}, {"status": "triggered", "action": "retrigger"})
        assert any(m.startswith("retrigger") for m in message_events(ml, 1))  # the owner is told again
        pending = {t["kind"] for t in inc["timers"] if t["state"] == "pending"}
        assert {"ack_deadline", "escalation"} <= pending and "reminder" not in pending

        # acknowledged again and worked on in time: no second re-trigger
        ml.workflow.act(1, "ack", actor="he.jing", now=T0 + 4 * H)
        ml.workflow.act(1, "investigate", actor="he.jing", now=T0 + 5 * H)
        assert "ack_timeout" not in ml.workflow.tick(T0 + 30 * H).fired
        assert ml.workflow.incident(1)["status"] == "investigating"
    finally:
        ml.close()


def test_without_an_ack_timeout_an_acknowledged_incident_stays_acknowledged(ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1", "gmv")], now=T0)
    ml.workflow.act(1, "ack", actor="wang.fang", now=T0)
    ml.workflow.tick(T0 + 20 * H)
    assert ml.workflow.incident(1)["status"] == "acknowledged"


def test_reminders_stop_at_the_cap_set_in_owners_yaml(project: Path) -> None:
    set_sla(project, "  max_reminders: 2\n")
    ml = MetricLoop.open(project)
    try:
        ml.workflow.process([alert("a1", "gmv", severity="low")], now=T0)
        ml.workflow.act(1, "ack", actor="wang.fang", now=T0)
        assert ml.workflow.tick(T0 + 100 * H).fired["reminder"] == 2
        assert [m for m in message_events(ml, 1) if m.startswith("remind")] == ["remind1", "remind2"]
        assert not [t for t in ml.workflow.incident(1)["timers"] if t["kind"] == "reminder" and t["state"] == "pending"]
    finally:
        ml.close()


def test_reminder_cap_and_ack_timeout_are_validated(project: Path) -> None:
    set_sla(project, "  max_reminders: -1\n  ack_timeout: soon\n")
    with pytest.raises(DefinitionError) as e:
        load_owners(project / "owners.yaml")
    fields = {i.location.field for i in e.value.issues if i.location}
    assert {"sla.max_reminders", "sla.ack_timeout"} <= fields


def test_a_silenced_anomaly_that_outlasts_its_silence_becomes_an_incident_when_the_silence_ends(
    ml: MetricLoop,
) -> None:
    ml.workflow.add_silence(starts_at=T0 - H, ends_at=T0 + 5 * H, actor="zhao.lei", metric="payment_success_rate",
                            kind="maintenance", comment="网关升级")
    ongoing = alert("p1", "payment_success_rate", {"province": "广东"}, start=T0, hours=8)
    over = alert("p2", "payment_success_rate", {"province": "浙江"}, start=T0 + H, hours=2)
    rep = ml.workflow.process([ongoing, over], now=T0 + H)
    assert (rep.silenced, rep.opened) == (2, [])
    assert ml.workflow.tick(T0 + 4 * H).fired.get("silence_ended") is None  # still in the window
    assert ml.workflow.list_incidents() == []

    rep = ml.workflow.tick(T0 + 5 * H)
    assert rep.fired["silence_ended"] == 1 and len(rep.opened) == 1 and rep.notifications >= 1
    [inc] = ml.workflow.list_incidents()
    detail = ml.workflow.incident(inc["id"])
    assert [(a["fingerprint"], a["state"]) for a in detail["alerts"]] == [("p1", "active")]
    assert detail["owner"] == "chen.jie" and detail["messages"]  # routed and announced like any incident
    assert any(e["kind"] == "silence_ended" for e in detail["audit"])
    assert ml.workflow.tick(T0 + 6 * H).fired.get("silence_ended") is None  # released once

    # the anomaly that was over by the end of the window stays on record without paging anyone ...
    later = ml.workflow.process([over], now=T0 + 7 * H)
    assert later.opened == [] and later.updated == []
    # ... until the detector shows it going on after the window: then it joins the incident
    longer = alert("p2", "payment_success_rate", {"province": "浙江"}, start=T0 + H, hours=6)
    rep2 = ml.workflow.process([longer], now=T0 + 8 * H)
    assert rep2.updated == [inc["number"]]
    states = {a["fingerprint"]: a["state"] for a in ml.workflow.incident(inc["id"])["alerts"]}
    assert states == {"p1": "active", "p2": "active"}


def test_a_loop_pass_counts_the_incidents_a_silence_releases(project: Path) -> None:
    """``metricloop run`` reports incidents opened by the pass's timers (a silence that ended),
    not only those opened by the pass's own anomalies."""
    shutil.rmtree(project / "monitors")  # no warehouse here: the pass has timers to fire, nothing to detect
    ml = MetricLoop.open(project)
    try:
        ml.workflow.add_silence(starts_at=T0 - H, ends_at=T0 + 5 * H, actor="zhao.lei",
                                metric="payment_success_rate", kind="maintenance")
        held = ml.workflow.process([alert("p1", "payment_success_rate", {"province": "广东"}, hours=8)], now=T0 + H)
        assert (held.silenced, held.opened) == (1, [])
        summary = loop.run_pass(ml, T0 + 5 * H, explain=False, notify=False)
    finally:
        ml.close()
    assert (summary.anomalies, summary.failed_monitors) == (0, [])
    assert summary.incidents_opened == 1 and summary.timers_fired >= 1
    assert summary.to_dict()["incidents_opened"] == 1


def test_the_incident_a_silence_releases_is_notified_in_the_same_pass(project: Path, clock: Clock) -> None:
    """Timers fire before dispatch: the owner hears of a released incident in the pass that
    opened it, not one scheduler interval later. (Robots check signatures against the wall
    clock, so this timeline ends now.)"""
    shutil.rmtree(project / "monitors")
    clock.t = time.time()
    now = clock.now
    t0 = now.replace(minute=0, second=0, microsecond=0) - 6 * H
    ml = MetricLoop.open(project)
    try:
        ml.workflow.add_silence(starts_at=t0 - H, ends_at=t0 + 5 * H, actor="zhao.lei",
                                metric="payment_success_rate", kind="maintenance")
        held = ml.workflow.process([alert("p1", "payment_success_rate", {"province": "广东"}, start=t0, hours=8)],
                                   now=t0 + H)
        assert held.silenced == 1
        summary = loop.run_pass(ml, now, explain=False, notify=True)
        ref = ml.workflow.list_incidents()[0]["number"]
        sent = [m for m in ml.workflow.incident(ref)["messages"] if m["status"] == "delivered"]
    finally:
        ml.close()
    assert summary.incidents_opened == 1
    assert summary.messages_sent >= 1 and sent


def test_an_anomaly_that_started_in_a_past_silence_and_goes_on_is_not_muted_forever(ml: MetricLoop) -> None:
    ml.workflow.add_silence(starts_at=T0, ends_at=T0 + 2 * H, actor="zhao.lei", metric="gmv")
    rep = ml.workflow.process([alert("g1", "gmv", start=T0 + H, hours=5)], now=T0 + 6 * H)  # first seen after it
    assert len(rep.opened) == 1
    rep = ml.workflow.process([alert("g2", "orders", start=T0 + H, hours=1)], now=T0 + 6 * H)
    # a silence on gmv does not touch orders (its alert joins gmv's incident: one event, metric tree)
    assert (rep.silenced, rep.new_alerts) == (0, 1)
    ml.workflow.add_silence(starts_at=T0 + 10 * H, ends_at=T0 + 12 * H, actor="zhao.lei", metric="orders")
    rep = ml.workflow.process([alert("g3", "orders", start=T0 + 10 * H, hours=1)], now=T0 + 14 * H)
    assert (rep.silenced, rep.opened) == (1, [])  # over within its window: expected, nobody paged
