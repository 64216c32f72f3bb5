"""A stage stands on its own: built from a Context, without the facade (issue 17).

The facade composes the stages over one Context; a stage built by hand from a bare Context
answers the same, and every query through the facade's Context obeys the acting user.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from metricloop.access.context import acting_as
from metricloop.access.policy import MetricRule, Principal
from metricloop.access.roles import Role
from metricloop.context import Context
from metricloop.engine.query import MetricQuery
from metricloop.errors import PermissionDenied
from metricloop.explain.service import ExplainService
from metricloop.project import Project
from metricloop.service import MetricLoop
from metricloop.workflow.grouping import AlertInput
from metricloop.workflow.service import WorkflowService

START = dt.datetime(2026, 1, 20)
END = dt.datetime(2026, 1, 27)


def test_stages_built_from_a_bare_context_answer_as_the_facades_do(tiny_project: Path) -> None:
    ml = MetricLoop.open(tiny_project)
    ctx = Context(Project.load(tiny_project))
    try:
        via_facade = ml.explain.explain("orders", start=START, end=END, by=["region"], store=False).to_dict()
        alone = ExplainService(ctx).explain("orders", start=START, end=END, by=["region"], store=False).to_dict()
        assert alone == via_facade

        workflow = WorkflowService(ctx)
        alert = AlertInput(fingerprint="f1", monitor="orders_total", metric="orders", slice={}, start=START,
                           end=START + dt.timedelta(hours=2), severity="critical", actual=1.0, expected=2.0)
        (incident_id,) = workflow.process([alert], now=START + dt.timedelta(hours=2)).opened
        # the facade's workflow reads the same state store
        assert [i["number"] for i in ml.workflow.list_incidents()] == [incident_id]
    finally:
        ctx.close()
        ml.close()


def test_every_query_through_the_facades_context_obeys_the_acting_user(tiny_project: Path) -> None:
    ml = MetricLoop.open(tiny_project)
    no_gmv = Principal(username="bob", role=Role.viewer, rules=(MetricRule("gmv", "user", "bob", "deny"),))
    try:
        query = MetricQuery(metrics=["gmv"], group_by=["region"])
        assert ml.ctx.query(query).rows()  # background work sees everything
        with acting_as(no_gmv), pytest.raises(PermissionDenied):
            ml.ctx.query(query)  # what a stage's own query does on bob's behalf
        with acting_as(no_gmv), pytest.raises(PermissionDenied):
            ml.explain.explain("gmv", start=START, end=END, store=False)
    finally:
        ml.close()
