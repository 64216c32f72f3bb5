"""The action stage against a real state store (SQLite and PostgreSQL) and a loopback robot
emulator: incidents, owners, audit, timers, outbox, silences, inhibition, signed links."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

import metricloop.workflow.service as wf_service
from metricloop.errors import ConflictError, NotFoundError, PermissionDenied
from metricloop.notify.emulator import RobotEmulator
from metricloop.notify.senders import Notifier
from metricloop.service import MetricLoop
from metricloop.store.workflow_models import Incident, OutboxMessage
from tests.workflow.conftest import T0, Clock, alert

H = dt.timedelta(hours=1)


def outbox_rows(ml: MetricLoop) -> list[OutboxMessage]:
    with ml.store.session() as s:
        return list(s.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def test_alerts_become_one_incident_with_the_right_owner_and_one_message_per_channel(ml: MetricLoop) -> None:
    alerts = [alert("a1", "gmv", {"region": "华东"}), alert("a2", "gmv", {"region": "华东", "channel": "app"}),
              alert("p1", "payment_success_rate", {"province": "广东", "payment_method": "wechat_pay"},
                    severity="warning", actual=0.3, expected=0.95,
                    causes=["微信支付回调超时 payment_method=wechat_pay"])]
    rep = ml.workflow.process(alerts, now=T0 + 2 * H)
    assert (rep.new_alerts, len(rep.opened), rep.inhibited, rep.notifications) == (3, 2, 1, 2)
    incs = {i["metric"]: i for i in ml.workflow.list_incidents()}
    gmv, pay = incs["gmv"], incs["payment_success_rate"]
    assert (gmv["owner"], gmv["team"], gmv["slice"], gmv["severity"]) == ("he.jing", "region_east", {"region": "华东"},
                                                                         "critical")
    assert (pay["owner"], pay["channels"], pay["severity"]) == ("chen.jie", ["pay-feishu"], "high")
    assert pay["causes"] == ["微信支付回调超时 payment_method=wechat_pay"]
    detail = ml.workflow.incident(gmv["id"])
    states = {a["fingerprint"]: a["state"] for a in detail["alerts"]}
    assert states == {"a1": "active", "a2": "inhibited"}
    assert detail["audit"][0]["kind"] == "opened" and detail["audit"][0]["after"]["owner"] == "he.jing"
    assert {t["kind"] for t in detail["timers"]} == {"ack_deadline", "escalation", "resolve_deadline"}
    rows = outbox_rows(ml)
    assert sorted(r.channel for r in rows) == ["pay-feishu", "region-wecom"]
    assert all(r.status == "pending" and "." not in r.id for r in rows)
    n = rows[0].notification
    assert n["ack_url"].startswith("http://127.0.0.1:8000/a/INC-") and n["mentions"][0]["mobile"]


def test_reprocessing_the_same_alerts_changes_nothing_but_counts(ml: MetricLoop) -> None:
    alerts = [alert("a1"), alert("a2", "orders", start=T0 + 24 * H)]  # a day apart: two incidents
    ml.workflow.process(alerts, now=T0)
    before = len(outbox_rows(ml))
    rep = ml.workflow.process(alerts, now=T0 + H)
    assert (rep.duplicates, rep.opened, rep.notifications) == (2, [], 0)
    assert len(outbox_rows(ml)) == before and len(ml.workflow.list_incidents()) == 2
    assert ml.workflow.incident(1)["alerts"][0]["seen_count"] == 2


def test_a_worse_alert_joining_raises_severity_and_notifies_again(ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1", severity="medium")], now=T0)
    rep = ml.workflow.process([alert("a2", "gmv", {"channel": "app"}, start=T0 + 3 * H, severity="critical")],
                              now=T0 + 4 * H)
    assert rep.opened == [] and rep.updated == [1] and rep.notifications == 2
    inc = ml.workflow.incident(1)
    assert inc["severity"] == "critical" and inc["window_end"] == T0 + 5 * H


def test_incident_change_and_its_messages_commit_together_or_not_at_all(
    ml: MetricLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = wf_service.enqueue
    calls = {"n": 0}

    def crash_on_second(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("process killed")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(wf_service, "enqueue", crash_on_second)
    with pytest.raises(RuntimeError):
        ml.workflow.process([alert("a1", "gmv"), alert("b1", "orders", start=T0 + 24 * H)], now=T0)
    assert outbox_rows(ml) == [] and ml.workflow.list_incidents() == []
    monkeypatch.setattr(wf_service, "enqueue", real)
    assert len(ml.workflow.process([alert("a1", "gmv"), alert("b1", "orders", start=T0 + 24 * H)],
                                   now=T0).opened) == 2


def test_lifecycle_only_through_rules_each_change_audited_with_actor_before_after(ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1", "gmv", {"region": "华东"})], now=T0)
    with pytest.raises(ConflictError):
        ml.workflow.act("INC-1", "close", actor="he.jing", now=T0 + H)
    ml.workflow.act("INC-1", "ack", actor="he.jing", now=T0 + H)
    ml.workflow.assign("INC-1", "wang.fang", actor="li.na", now=T0 + 2 * H, comment="交易侧问题")
    ml.workflow.act("INC-1", "investigate", actor="wang.fang", now=T0 + 3 * H)
    with pytest.raises(ConflictError, match="needs a comment"):
        ml.workflow.act("INC-1", "resolve", actor="wang.fang", now=T0 + 4 * H)
    inc = ml.workflow.act("INC-1", "resolve", actor="wang.fang", now=T0 + 4 * H, comment="回滚版本")
    assert inc["status"] == "verifying" and inc["acknowledged_at"] == T0 + H and inc["resolved_at"] == T0 + 4 * H
    audit = ml.workflow.incident(1)["audit"]
    changes = [(e["actor"], e["kind"], (e["before"] or {}).get("status") or (e["before"] or {}).get("owner"),
                (e["after"] or {}).get("status") or (e["after"] or {}).get("owner")) for e in audit[1:]]
    assert changes == [("he.jing", "transition", "triggered", "acknowledged"),
                       ("li.na", "assign", "he.jing", "wang.fang"),
                       ("wang.fang", "transition", "acknowledged", "investigating"),
                       ("wang.fang", "transition", "investigating", "verifying")]
    assert audit[-1]["comment"] == "回滚版本"
    with pytest.raises(NotFoundError):
        ml.workflow.assign("INC-1", "ghost", actor="li.na")


def test_timers_survive_a_restart_escalate_until_ack_then_remind(project: Path, ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1", "gmv", {"region": "华东"}, severity="high")], now=T0)
    ml.close()
    ml2 = MetricLoop.open(project)  # a new process: only the database remembers
    t = ml2.workflow.tick(T0 + 31 * dt.timedelta(minutes=1))
    assert t.fired == {"escalation": 1, "ack_deadline": 1}
    t = ml2.workflow.tick(T0 + 3 * H)
    assert t.fired == {"escalation": 1}
    inc = ml2.workflow.incident(1)
    assert inc["escalation_level"] == 2
    assert [e["kind"] for e in inc["audit"]] == ["opened", "ack_sla_breached", "escalate", "escalate"]
    ml2.workflow.act(1, "ack", actor="he.jing", now=T0 + 3 * H)
    t = ml2.workflow.tick(T0 + 9 * H)  # the 8-hour manager step is cancelled by the ack; a reminder fires
    assert t.fired == {"reminder": 1}
    assert ml2.workflow.tick(T0 + 9 * H).fired == {}  # fired once, not twice
    kinds = sorted(m["id"].split("-")[1] for m in ml2.workflow.incident(1)["messages"])
    assert kinds == ["esc1", "esc2", "open", "remind1"]
    ml2.close()


def test_action_due_and_resolve_deadline_remind_the_owner(ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1", "gmv", severity="critical")], now=T0)
    ml.workflow.act(1, "ack", actor="wang.fang", now=T0)
    item = ml.workflow.add_action(1, "扩容支付网关", actor="wang.fang", owner="chen.jie", due=T0 + 2 * H,
                                  expected_effect="支付成功率回到 95%", now=T0)
    t = ml.workflow.tick(T0 + 5 * H)
    assert t.fired["action_due"] == 1 and t.fired["resolve_deadline"] == 1
    ml.workflow.update_action(item["id"], actor="chen.jie", status="done", now=T0 + 6 * H)
    audit_kinds = [e["kind"] for e in ml.workflow.incident(1)["audit"]]
    assert "action_overdue" in audit_kinds and "resolve_sla_breached" in audit_kinds


def test_silence_and_maintenance_window_suppress_without_losing_the_alert(ml: MetricLoop) -> None:
    ml.workflow.add_silence(starts_at=T0 - H, ends_at=T0 + 5 * H, actor="zhao.lei", metric="pay*",
                            slice={"province": "广东"}, kind="maintenance", comment="网关升级")
    rep = ml.workflow.process([alert("p1", "payment_success_rate", {"province": "广东"}),
                               alert("p2", "payment_success_rate", {"province": "浙江"})], now=T0 + H)
    assert (rep.silenced, len(rep.opened)) == (1, 1)
    with ml.store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Incident)) == 1
    rep = ml.workflow.process([alert("p1", "payment_success_rate", {"province": "广东"})], now=T0 + 2 * H)
    assert rep.duplicates == 1 and rep.opened == []


def test_signed_links_are_single_use_expiring_and_bound_to_incident_and_action(project: Path, ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1")], now=T0)
    url = ml.workflow.action_link(1, "ack", "wang.fang", now=T0)
    token = url.split("?t=")[1]
    with pytest.raises(PermissionDenied):
        ml.workflow.act_with_token(token, now=T0, action="resolve")
    ml2 = MetricLoop.open(project)
    assert ml2.workflow.act_with_token(token, now=T0 + H)["status"] == "acknowledged"
    with pytest.raises(ConflictError, match="already used"):
        ml.workflow.act_with_token(token, now=T0 + H)  # another process: the DB remembers
    late = ml.workflow.action_link(1, "resolve", "wang.fang", now=T0).split("?t=")[1]
    with pytest.raises(PermissionDenied, match="expired"):
        ml.workflow.act_with_token(late, now=T0 + dt.timedelta(days=4))
    fresh = ml.workflow.action_link(1, "resolve", "wang.fang", now=T0 + H).split("?t=")[1]
    assert ml.workflow.act_with_token(fresh, now=T0 + 2 * H)["status"] == "verifying"
    ml2.close()


def test_dispatch_delivers_through_the_emulator_and_records_every_attempt(
    ml: MetricLoop, emu: RobotEmulator, clock: Clock
) -> None:
    ml.workflow.process([alert("a1", "gmv", {"region": "华东"}), alert("b1", "orders", start=T0 + 24 * H)],
                        now=clock.now)
    with Notifier(clock=clock) as n:
        rep = ml.workflow.dispatch(clock.now, notifier=n)
    assert (rep.attempts, rep.delivered) == (3, 3)  # wecom (region), dingtalk + webhook (orders)
    assert {r.platform for r in emu.recorded()} == {"wecom", "dingtalk", "webhook"}
    assert emu.duplicates_acted() == {}
    assert all(m["status"] == "delivered" for m in ml.workflow.outbox())
    ding = emu.recorded("dingtalk")[0].json()
    assert "告警" in ding["markdown"]["title"] and "13800000001" in ding["at"]["atMobiles"]


def test_a_rate_alert_keeps_its_normal_range_within_0_to_100_percent(ml: MetricLoop) -> None:
    ml.workflow.process([alert("p1", "payment_success_rate", {"province": "广东"}, actual=0.62, expected=0.97),
                         alert("g1", "gmv")], now=T0)
    alerts = {a["fingerprint"]: a for i in (1, 2) for a in ml.workflow.incident(i)["alerts"]}
    rate, gmv = alerts["p1"], alerts["g1"]
    assert (rate["actual"], rate["expected"], rate["upper"]) == (0.62, 0.97, 1.0)  # 0.97 × 1.1 would be 106.7 %
    assert rate["lower"] == pytest.approx(0.873)
    assert gmv["upper"] == pytest.approx(110.0)  # an amount has no ceiling
