"""A chat link spends its token and acts in ONE transaction: a link whose action no longer fits
(someone else moved the incident) changes nothing, stays usable, and says why."""

from __future__ import annotations

import datetime as dt

import pytest

from metricloop.errors import ConflictError
from metricloop.notify.outbox import DbUsedTokens
from metricloop.notify.tokens import verify_action_token
from metricloop.service import MetricLoop
from metricloop.workflow.service import IncidentMoved
from tests.workflow.conftest import T0, alert

H = dt.timedelta(hours=1)


def test_a_link_refused_because_the_incident_moved_on_is_not_used_up(ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1", "gmv", {"region": "华东"})], now=T0)
    token = ml.workflow.action_link(1, "ack", "he.jing", now=T0).split("?t=")[1]
    ml.workflow.act(1, "ack", actor="li.na", now=T0 + H)  # someone else was faster

    with pytest.raises(IncidentMoved) as e:
        ml.workflow.act_with_token(token, now=T0 + 2 * H)
    assert isinstance(e.value, ConflictError) and e.value.http_status == 409
    assert "INC-1 is now acknowledged by 李娜" in e.value.message and "not used" in e.value.message
    assert e.value.message_zh and "已确认" in e.value.message_zh and "未被使用" in e.value.message_zh
    claim = verify_action_token(token, ml.workflow.action_secret, DbUsedTokens(ml.store), now=T0 + 2 * H,
                                consume=False)  # raises if the failed click had spent it
    assert ml.workflow.link_problem(1, "ack") is not None
    inc = ml.workflow.incident(1)
    assert inc["status"] == "acknowledged" and inc["audit"][-1]["actor"] == "li.na"  # nothing written

    ml.workflow.act(1, "retrigger", actor="system", now=T0 + 3 * H)  # it fits again: the same link works
    assert ml.workflow.link_problem(1, "ack") is None
    assert ml.workflow.act_with_token(token, now=T0 + 4 * H)["status"] == "acknowledged"
    assert ml.workflow.incident(1)["audit"][-1]["actor"] == claim.actor == "he.jing"
    with pytest.raises(ConflictError, match="already used"):
        ml.workflow.act_with_token(token, now=T0 + 5 * H)


def test_resolve_link_on_a_triggered_incident_acknowledges_and_resolves_in_one_go(ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1", "gmv")], now=T0)
    token = ml.workflow.action_link(1, "resolve", "wang.fang", now=T0).split("?t=")[1]
    inc = ml.workflow.act_with_token(token, now=T0 + H)
    assert inc["status"] == "verifying" and inc["acknowledged_at"] == T0 + H
    kinds = [(e["before"] or {}).get("status") for e in ml.workflow.incident(1)["audit"] if e["kind"] == "transition"]
    assert kinds == ["triggered", "acknowledged"]
