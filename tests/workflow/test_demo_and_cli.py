"""The demo company's known incidents reach the right owners; the CLI doors speak JSON; the
workflow migration branch upgrades and downgrades on its own."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from metricloop.cli.main import app, load_commands
from metricloop.demo.incidents import DEFAULT_INCIDENTS
from metricloop.service import MetricLoop
from metricloop.store import Store
from metricloop.workflow.grouping import AlertInput
from tests.workflow.conftest import T0, alert

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# the owner the responsibility table must pick for each injected incident's first metric
EXPECTED_OWNER = {
    "INC-2025-03-12-pay-gd-wechat": "chen.jie",  # payment_success_rate rule
    "INC-2025-08-05-logistics-sw-zto": "tang.yu",  # region=西南 → the region's manager
    "INC-2026-04-14-app-outage": "liu.yang",  # sessions: catalog business owner
    "INC-2026-08-12-logistics-sc-yto": "lin.hui",  # region=华南
    "INC-2026-08-18-refund-food": "zhou.min",  # refund_rate rule
    "INC-2026-09-17-web-east-cdn": "he.jing",  # region=华东
}


def test_demo_incidents_are_assigned_to_the_owners_the_responsibility_table_names(ml: MetricLoop) -> None:
    alerts = [AlertInput(fingerprint=spec.id, monitor="demo", metric=spec.metrics[0], slice=dict(spec.slice),
                         start=spec.start, end=spec.end, severity="critical", actual=1.0, expected=2.0)
              for spec in DEFAULT_INCIDENTS]
    ml.workflow.process(alerts, now=T0)
    got = {i["alerts"][0]["fingerprint"]: i["owner"] for i in (ml.workflow.incident(x["id"])
                                                                for x in ml.workflow.list_incidents())}
    assert len(got) == len(DEFAULT_INCIDENTS)
    for inc_id, owner in EXPECTED_OWNER.items():
        assert got[inc_id] == owner, inc_id
    first = DEFAULT_INCIDENTS[0]  # naive demo times are Asia/Shanghai wall-clock
    inc = next(i for i in ml.workflow.list_incidents() if i["window_start"] == first.start.replace(tzinfo=SHANGHAI))
    assert inc["metric"] == first.metrics[0] and inc["slice"] == dict(first.slice)


def run(project: Path, *args: str) -> str:
    load_commands()
    result = CliRunner().invoke(app, [*args, "--project", str(project)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_lists_shows_acts_and_reports_in_json(project: Path, ml: MetricLoop) -> None:
    ml.workflow.process([alert("a1", "gmv", {"region": "华东"})], now=dt.datetime.now(dt.UTC))
    rows = json.loads(run(project, "incidents", "list", "--format", "json"))
    assert [(r["id"], r["owner"], r["status"]) for r in rows] == [("INC-1", "he.jing", "triggered")]
    out = json.loads(run(project, "incidents", "ack", "INC-1", "--actor", "he.jing", "--format", "json"))
    assert out["status"] == "acknowledged"
    out = json.loads(run(project, "incidents", "assign", "1", "wang.fang", "--actor", "li.na", "--format", "json"))
    assert out["owner"] == "wang.fang"
    out = json.loads(run(project, "incidents", "resolve", "INC-1", "-m", "回滚", "--actor", "wang.fang",
                         "--format", "json"))
    assert out["status"] == "verifying"
    detail = json.loads(run(project, "incidents", "show", "INC-1", "--format", "json"))
    assert [e["kind"] for e in detail["audit"]] == ["opened", "transition", "assign", "transition"]
    draft = json.loads(run(project, "review", "draft", "INC-1", "--format", "json"))
    assert draft["missing"] == ["summary", "root_cause", "actions", "lessons"]
    health = json.loads(run(project, "review", "health", "--format", "json"))
    assert health["overall"]["incidents"] == 1
    html = run(project, "report", "weekly", "--format", "html", "--week", dt.date.today().isoformat())
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert "METRICLOOP_ACTION_SECRET" not in html and "test-action-secret" not in html


def test_workflow_branch_upgrades_and_downgrades_alone(state_url: str) -> None:
    store = Store(state_url)
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"wf_incidents", "wf_alerts", "wf_audit_events", "wf_timers", "wf_action_items", "wf_silences",
            "notify_outbox", "notify_attempts", "notify_channel_state", "notify_used_tokens", "rv_reviews",
            "rv_effect_checks"} <= names
    store.downgrade("workflow@0001")
    after = set(sa.inspect(store.engine).get_table_names())
    assert not {n for n in after if n.startswith(("wf_", "rv_", "notify_"))}
    assert "definition_revisions" in after  # other branches are untouched
    store.upgrade()
    assert "wf_incidents" in sa.inspect(store.engine).get_table_names()
    store.dispose()


@pytest.mark.parametrize("bad", ["loud"])
def test_bad_severity_is_refused_before_anything_is_written(ml: MetricLoop, bad: str) -> None:
    with pytest.raises(ValueError, match="severity"):
        ml.workflow.process([alert("x", severity=bad)], now=T0)
    assert ml.workflow.list_incidents() == []
