"""A channel whose ``${VAR}`` is unset (issue 14): the pass goes on, the other channels deliver,
its messages wait with the reason in the audit trail, and go out exactly once when it is set.
Real receivers (the robot emulator on 127.0.0.1), a real state store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from metricloop.notify.config import parse_channels
from metricloop.notify.emulator import RobotEmulator
from metricloop.notify.message import Notification
from metricloop.notify.outbox import broken_channels
from metricloop.notify.senders import Notifier
from metricloop.project_check import check_project
from metricloop.service import MetricLoop
from metricloop.store.workflow_models import DeliveryAttempt, OutboxMessage
from tests.workflow.conftest import T0, Clock, alert


def _wecom_rows(ml: MetricLoop) -> list[OutboxMessage]:
    with ml.store.session() as s:
        return [r for r in s.query(OutboxMessage).all() if r.target == "region-wecom"]


def test_unset_variable_is_one_channel_problem_not_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_TEST_UNSET_URL", raising=False)
    parsed = parse_channels({"channels": [
        {"name": "a", "type": "webhook", "url": "${ML_TEST_UNSET_URL}"},
        {"name": "b", "type": "webhook", "url": "http://127.0.0.1:9/hook"},
    ]})
    a, b = parsed.channels
    assert a.unconfigured == "environment variable ML_TEST_UNSET_URL is not set (needed by channels[0].url)"
    assert a.unconfigured_zh is not None and "ML_TEST_UNSET_URL" in a.unconfigured_zh
    assert b.unconfigured is None
    with Notifier() as n:  # the stand-in URL is never requested
        result = n.send(a, Notification(kind="test", severity="info", metric="m"), "x1")
    assert (result.outcome, result.code) == ("retryable", "unconfigured")
    assert "ML_TEST_UNSET_URL" in result.detail


def test_messages_wait_for_an_unconfigured_channel_and_go_out_once_when_it_is_set(
    project: Path, emu: RobotEmulator, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # region-wecom without a fallback and without its URL; the other channels work
    path = project / "channels.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    url: ${ML_WECOM_URL}             # https://qyapi.weixin.qq.com/cgi-bin/"
                                 "webhook/send?key=…\n    fallback: ops-dingtalk\n", "    url: ${ML_WECOM_URL}\n"),
                    encoding="utf-8")
    assert "fallback: ops-dingtalk\n  - name: pay-feishu" not in path.read_text(encoding="utf-8")
    monkeypatch.delenv("ML_WECOM_URL")
    ml = MetricLoop.open(project)
    try:
        later = T0 + dt.timedelta(days=1)  # a day apart: two incidents
        ml.workflow.process([alert("a1", "gmv", {"region": "华东"}), alert("b1", "orders", start=later)], now=clock.now)
        with Notifier(clock=clock) as n:
            rep = ml.workflow.dispatch(clock.now, notifier=n)
        assert rep.delivered == 2 and rep.undeliverable == 1 and rep.dead == 0
        assert {r.platform for r in emu.recorded()} == {"dingtalk", "webhook"}  # the others delivered
        reason = "environment variable ML_WECOM_URL is not set (needed by channels[1].url)"
        assert rep.unconfigured == {"region-wecom": reason}
        [row] = _wecom_rows(ml)
        assert row.status == "pending" and reason in (row.last_error or "")
        gmv = next(i for i in ml.workflow.list_incidents() if i["metric"] == "gmv")
        audit = [a for a in ml.workflow.incident(gmv["id"])["audit"] if a["kind"] == "undeliverable"]
        assert len(audit) == 1 and audit[0]["after"]["reason"] == reason
        assert audit[0]["after"]["channel"] == "region-wecom"

        # days later, past the retry policy's give-up age: still waiting, not dead, not "broken"
        clock.advance(4 * 86400)
        with Notifier(clock=clock) as n:
            rep = ml.workflow.dispatch(clock.now, notifier=n)
        [row] = _wecom_rows(ml)
        assert row.status == "pending" and row.attempts == 2 and rep.undeliverable == 0  # counted once
        with ml.store.session() as s:
            assert "region-wecom" not in broken_channels(s)
            codes = [a.code for a in s.query(DeliveryAttempt).filter_by(outbox_id=row.id)]
        assert codes == ["unconfigured", "unconfigured"]
        assert emu.recorded("wecom") == []

        # the variable is set: the waiting message goes out, once
        monkeypatch.setenv("ML_WECOM_URL", emu.wecom("late-key"))
        ml.workflow.reload()
        for _ in range(2):
            clock.advance(7 * 3600)  # past the capped backoff
            with Notifier(clock=clock) as n:
                ml.workflow.dispatch(clock.now, notifier=n)
        got = emu.recorded("wecom")
        assert len(got) == 1 and got[0].idempotency_id == row.id
        assert _wecom_rows(ml)[0].status == "delivered"
        assert emu.duplicates_acted() == {}
    finally:
        ml.close()


def test_an_unconfigured_channel_hands_its_messages_to_its_fallback_without_breaking(
    ml: MetricLoop, emu: RobotEmulator, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_WECOM_URL")  # region-wecom falls back to ops-dingtalk
    ml.workflow.process([alert("a1", "gmv", {"region": "华东"})], now=clock.now)
    for _ in range(2):
        with Notifier(clock=clock) as n:
            ml.workflow.dispatch(clock.now, notifier=n)
    assert [r.platform for r in emu.recorded()] == ["dingtalk"]
    assert all(m["status"] == "delivered" for m in ml.workflow.outbox())
    with ml.store.session() as s:
        assert broken_channels(s) == set()  # setting the variable is the whole repair


def test_validate_still_reports_the_unset_variable(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_WECOM_URL")
    report = check_project(project)
    assert any("ML_WECOM_URL" in p.message for p in report.problems)

