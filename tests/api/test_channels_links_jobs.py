"""Channels (no secrets, test sends to real local receivers), the signed links of chat messages,
and the scheduled jobs of the loop."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from metricloop.scheduler import registered_jobs
from metricloop.scheduler.runner import Scheduler
from metricloop.store.access_models import ScheduledJob
from tests.api.demo import Demo, receivers

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
API = "/api/v1"


# ------------------------------------------------------------------------------------ channels
def test_channels_without_env_vars_say_what_is_missing(demo: Demo) -> None:
    r = demo.client.get(f"{API}/channels", headers=demo.as_("ed"))
    assert r.status_code == 200
    rows = {c["name"]: c for c in r.json()}
    assert set(rows) == {"ops-dingtalk", "region-wecom", "pay-feishu", "ops-webhook", "ops-email"}
    assert not rows["ops-dingtalk"]["configured"]
    assert "ML_DINGTALK_URL" in rows["ops-dingtalk"]["problem"]
    sent = demo.client.post(f"{API}/channels/ops-dingtalk/test", headers=demo.as_("ed"))
    assert sent.status_code == 422
    assert "ML_DINGTALK_URL" in sent.json()["message"]
    assert demo.client.post(f"{API}/channels/nope/test", headers=demo.as_("ed")).status_code == 404
    assert demo.client.get(f"{API}/channels", headers=demo.as_("east")).status_code == 403


def test_test_send_reaches_the_robot_and_no_secret_is_shown(demo: Demo) -> None:
    with receivers() as env:
        listed = demo.client.get(f"{API}/channels", headers=demo.as_("ed"))
        body = listed.text
        for secret in (env["ML_DINGTALK_SECRET"], env["ML_FEISHU_SECRET"], env["ML_WEBHOOK_SECRET"]):
            assert secret not in body
        token = re.search(r"access_token=([^&]+)", env["ML_DINGTALK_URL"]).group(1)  # type: ignore[union-attr]
        assert token not in body
        rows = {c["name"]: c for c in listed.json()}
        assert all(c["configured"] for c in rows.values())
        assert rows["ops-dingtalk"]["target"].endswith("/…")
        for name in ("ops-dingtalk", "pay-feishu", "ops-webhook", "ops-email"):
            r = demo.client.post(f"{API}/channels/{name}/test", headers=demo.as_("ed"))
            assert r.status_code == 200, r.text
            assert r.json()["delivered"] is True, r.json()
    audit = demo.ml.access.audit_log(limit=20, action="channel.test")[0]
    assert len(audit) >= 4


def test_outbox_lists_the_demo_messages(demo: Demo) -> None:
    page = demo.client.get(f"{API}/outbox", headers=demo.as_("ed"), params={"limit": 5}).json()
    assert len(page["items"]) == 5 and page["next_offset"] == 5
    delivered = demo.client.get(f"{API}/outbox", headers=demo.as_("ed"), params={"status": "delivered"}).json()
    assert delivered["items"] and {m["status"] for m in delivered["items"]} == {"delivered"}


# ------------------------------------------------------------------------------------ chat links
def _link(demo: Demo, action: str) -> tuple[str, str]:
    inc = next(i for i in demo.ml.workflow.list_incidents() if i["status"] == "triggered")
    url = demo.ml.workflow.action_link(inc["id"], action, inc["owner"])
    return inc["id"], url[url.index("/a/"):]


def test_opening_a_link_only_confirms_and_the_button_acts_once(demo: Demo) -> None:
    ref, path = _link(demo, "ack")
    page = demo.client.get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert page.status_code == 200
    assert "确认" in page.text and ref in page.text
    assert demo.ml.workflow.incident(ref)["status"] == "triggered"  # a link preview changes nothing
    english = demo.client.get(path + "&lang=en")
    assert "Confirm" in english.text
    token = path.split("?t=")[1]
    done = demo.client.post(path.split("?")[0], data={"t": token})
    assert done.status_code == 200, done.text
    assert "已确认" in done.text
    inc = demo.ml.workflow.incident(ref)
    assert inc["status"] == "acknowledged"
    assert inc["audit"][-1]["actor"] == inc["owner"]
    again = demo.client.post(path.split("?")[0], data={"t": token})
    assert again.status_code == 409
    assert "已被使用" in again.text or "already used" in again.text
    assert demo.client.get(path).status_code == 409


def test_a_link_for_an_incident_that_moved_on_says_why_and_is_not_used_up(demo: Demo) -> None:
    ref, path = _link(demo, "ack")
    demo.ml.workflow.act(ref, "ack", actor="li.na")  # acknowledged in the UI before the chat link is clicked
    base, token = path.split("?t=")
    page = demo.client.get(path, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 409
    assert "状态已变化" in page.text and "李娜" in page.text and f"/incidents/{ref.removeprefix('INC-')}" in page.text
    done = demo.client.post(base, data={"t": token, "lang": "en"})
    assert done.status_code == 409
    assert "has moved on: nothing was changed" in done.text and "this link was not used" in done.text
    demo.ml.workflow.act(ref, "retrigger", actor="system")  # the link fits again: it still works
    assert demo.client.post(base, data={"t": token}).status_code == 200
    assert demo.ml.workflow.incident(ref)["status"] == "acknowledged"


def test_forged_or_mismatched_links_are_refused(demo: Demo) -> None:
    ref, path = _link(demo, "resolve")
    base, token = path.split("?t=")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert demo.client.get(f"{base}?t={forged}").status_code == 403
    other = base.replace("/resolve", "/ack")
    assert demo.client.post(other, data={"t": token}).status_code == 403
    assert demo.ml.workflow.incident(ref)["status"] == "triggered"


# ------------------------------------------------------------------------------------ jobs
def test_every_monitor_has_a_job_on_its_schedule(demo: Demo) -> None:
    jobs = {j.name: j for j in registered_jobs(demo.ml)}
    for m in demo.ml.detection.monitors(include_disabled=False):
        assert jobs[f"monitor.{m.name}"].cron == m.spec.schedule
    for name in ("workflow.timers", "outbox.dispatch", "review.weekly_report"):
        assert name in jobs


def test_scheduled_dispatch_and_timers_survive_missing_channel_variables(demo: Demo) -> None:
    jobs = {j.name: j for j in registered_jobs(demo.ml)}
    sched = Scheduler(demo.ml, worker="t", jobs=[jobs["outbox.dispatch"], jobs["workflow.timers"]])
    now = dt.datetime.now(dt.UTC)
    sched.sync_jobs(now - dt.timedelta(minutes=2))
    outcomes = sched.run_pending(now)
    assert {(o.job, o.status) for o in outcomes} == {("outbox.dispatch", "ok"), ("workflow.timers", "ok")}
    with demo.ml.store.session() as s:
        row = s.get(ScheduledJob, "outbox.dispatch")
        assert row is not None and row.last_status == "ok"
        assert s.scalar(sa.select(sa.func.count()).select_from(ScheduledJob)) >= 2


def test_a_monitor_job_runs_one_pass_and_sets_the_loop_duration(demo: Demo) -> None:
    jobs = {j.name: j for j in registered_jobs(demo.ml)}
    sched = Scheduler(demo.ml, worker="t2", jobs=[jobs["monitor.aov_by_category"]])
    now = dt.datetime.now(dt.UTC)
    sched.sync_jobs(now - dt.timedelta(days=2))
    [outcome] = sched.run_pending(now)
    assert (outcome.job, outcome.status) == ("monitor.aov_by_category", "ok"), outcome.error
    runs = demo.ml.detection.runs(monitor="aov_by_category", limit=1)
    assert runs and runs[0]["status"] in ("ok", "skipped")
    assert "metricloop_loop_pass_duration_seconds " in demo.client.get("/metrics").text
