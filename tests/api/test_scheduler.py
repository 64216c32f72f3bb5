"""The scheduler: cron due times, one run per due time, errors recorded, work shared by workers."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from metricloop.errors import ConfigError
from metricloop.scheduler import Job, JobContext, registered_jobs
from metricloop.scheduler.runner import Scheduler
from metricloop.service import MetricLoop
from metricloop.store.access_models import JobRun, ScheduledJob
from tests.conftest import write_tiny_project

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 1, 2, 3, tzinfo=UTC)  # 09:02:03 in Asia/Shanghai


@pytest.fixture
def ml(tmp_path: Path) -> MetricLoop:
    m = MetricLoop.open(write_tiny_project(tmp_path / "p"))
    yield m
    m.close()


def _runs(ml: MetricLoop) -> list[tuple[str, dt.datetime, str]]:
    with ml.store.session() as s:
        return [(r.job, r.due_at, r.status) for r in s.scalars(sa.select(JobRun).order_by(JobRun.id))]


def test_cron_is_read_in_the_project_timezone(ml: MetricLoop) -> None:
    j = Job("daily", "0 9 * * *", lambda ctx: None)
    assert j.next_after(T0, ml.project.tz) == dt.datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 +08:00
    with pytest.raises(ConfigError, match="cron"):
        Job("bad", "every day", lambda ctx: None)


MONITORS = """\
monitors:
  - {name: gmv_new_york, metric: gmv, grain: day, schedule: "0 9 * * *", timezone: %s}
  - {name: gmv_here, metric: gmv, grain: day, schedule: "0 9 * * *"}
"""


def _next_runs(ml: MetricLoop, zone: str, now: dt.datetime) -> dict[str, dt.datetime]:
    (ml.project.root / "monitors").mkdir(exist_ok=True)
    (ml.project.root / "monitors" / "gmv.yaml").write_text(MONITORS % zone, encoding="utf-8")
    jobs = [j for j in registered_jobs(ml) if j.name.startswith("monitor.gmv_")]
    Scheduler(ml, worker="w1", jobs=jobs).sync_jobs(now)
    with ml.store.session() as s:
        return {r.name: r.next_run_at for r in s.scalars(sa.select(ScheduledJob))}


def test_a_monitor_schedule_is_read_in_the_monitor_timezone(ml: MetricLoop) -> None:
    runs = _next_runs(ml, "America/New_York", T0)
    assert runs["monitor.gmv_here"] == dt.datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert runs["monitor.gmv_new_york"] == dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 EST
    [ny] = [j for j in registered_jobs(ml) if j.name == "monitor.gmv_new_york"]
    after_dst = dt.datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    assert ny.next_after(after_dst, ml.project.tz) == dt.datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # 09:00 EDT
    # changing only the timezone reschedules the job
    assert _next_runs(ml, "Europe/London", T0)["monitor.gmv_new_york"] == dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match="timezone"):
        Job("bad", "0 9 * * *", lambda ctx: None, timezone="Mars/Olympus")


def test_each_due_time_runs_once(ml: MetricLoop) -> None:
    seen: list[dt.datetime] = []
    sched = Scheduler(ml, worker="w1", jobs=[Job("five", "*/5 * * * *", lambda ctx: seen.append(ctx.due_at))])
    sched.sync_jobs(T0)
    assert sched.run_pending(T0) == []  # next due is 01:05
    due = dt.datetime(2026, 3, 2, 1, 5, tzinfo=UTC)
    out = sched.run_pending(due + dt.timedelta(seconds=1))
    assert [(o.job, o.status) for o in out] == [("five", "ok")]
    assert sched.run_pending(due + dt.timedelta(seconds=2)) == []
    assert seen == [due.astimezone(ml.project.tz)]
    # a long outage runs the job once, not once per missed period
    out = sched.run_pending(due + dt.timedelta(hours=3))
    assert len(out) == 1
    assert [r[1] for r in _runs(ml)] == [due, dt.datetime(2026, 3, 2, 1, 10, tzinfo=UTC)]


def test_a_failing_job_is_recorded_and_rescheduled(ml: MetricLoop) -> None:
    def boom(ctx: JobContext) -> None:
        raise RuntimeError("warehouse password=hunter2 rejected")

    sched = Scheduler(ml, worker="w1", jobs=[Job("boom", "* * * * *", boom)])
    sched.sync_jobs(T0)
    out = sched.run_pending(T0 + dt.timedelta(minutes=1))
    assert out[0].status == "error"
    assert "hunter2" not in (out[0].error or "")
    with ml.store.session() as s:
        row = s.get(ScheduledJob, "boom")
        assert row is not None
        assert (row.last_status, row.lease_until) == ("error", None)
        assert row.next_run_at > T0 + dt.timedelta(minutes=1)
    assert _runs(ml)[0][2] == "error"


def test_a_second_worker_never_runs_the_same_occurrence(ml: MetricLoop) -> None:
    ran: list[str] = []
    job = Job("shared", "* * * * *", lambda ctx: ran.append(ctx.worker))
    a = Scheduler(ml, worker="a", jobs=[job])
    b = Scheduler(ml, worker="b", jobs=[job])
    a.sync_jobs(T0)
    b.sync_jobs(T0)
    now = T0 + dt.timedelta(minutes=1)
    claims = a.claim_due(now)
    assert len(claims) == 1
    assert b.claim_due(now) == []  # advanced and leased by a
    # even if b had read the row before a's commit (no row locks on SQLite), the run key stops it
    with ml.store.session() as s:
        row = s.get(ScheduledJob, "shared")
        assert row is not None
        row.next_run_at, row.lease_until = claims[0].due_at, None
    assert b.claim_due(now) == []
    a.execute(claims[0])
    assert ran == ["a"]


def test_a_running_job_does_not_overlap_itself(ml: MetricLoop) -> None:
    job = Job("slow", "* * * * *", lambda ctx: None, lease_seconds=600)
    sched = Scheduler(ml, worker="w", jobs=[job])
    sched.sync_jobs(T0)
    first = sched.claim_due(T0 + dt.timedelta(minutes=1))
    assert sched.claim_due(T0 + dt.timedelta(minutes=3)) == []  # still running (lease)
    sched.execute(first[0])
    assert len(sched.claim_due(T0 + dt.timedelta(minutes=3))) == 1


def test_stage_jobs_are_discovered(ml: MetricLoop) -> None:
    names = {j.name for j in registered_jobs(ml)}
    assert {"access.purge_sessions", "ingest.checks"} <= names


def test_the_stage_jobs_keep_their_names_and_schedules(ml: MetricLoop) -> None:
    """The jobs live with the scheduler door (scheduler/stage_jobs.py); what an operator sees in
    the schedule table is what it was when they lived beside their stages."""
    crons = {j.name: j.cron for j in registered_jobs(ml)}
    stage_jobs = {"access.purge_sessions": "17 * * * *", "ingest.checks": "*/15 * * * *",
                  "outbox.dispatch": "* * * * *", "review.weekly_report": "0 9 * * 1", "workflow.timers": "* * * * *"}
    assert stage_jobs.items() <= crons.items()


@pytest.mark.postgres
def test_two_worker_processes_share_jobs_without_running_any_twice(tmp_path: Path, fresh_postgres_url: str) -> None:
    root = write_tiny_project(tmp_path / "p")
    ticks = tmp_path / "ticks.txt"
    ticks.touch()
    env = {**os.environ, "METRICLOOP_STATE_URL": fresh_postgres_url, "METRICLOOP_TEST_TICKS": str(ticks),
           "METRICLOOP_JOB_MODULES": "tests.api.sched_jobs",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    MetricLoop.open(root).store  # migrate once, before the workers race to it  # noqa: B018
    cmd = [sys.executable, "-c", "from metricloop.cli.main import main; main()",
           "serve", "--worker", "--project", str(root)]
    workers = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    died = False
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = ticks.read_text(encoding="utf-8").splitlines()
            if len(lines) >= 40 and len({ln.split()[1] for ln in lines}) == 2:
                break
            if any(w.poll() is not None for w in workers):
                died = True
                break
            time.sleep(0.5)
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        # read the output only once every worker has stopped: reading a live worker's pipe blocks
        output = [w.communicate(timeout=30)[0].decode(errors="replace") for w in workers]
    assert not died, output
    lines = ticks.read_text(encoding="utf-8").splitlines()
    # job name is not in the line; due times are per job, so count (due, job) through the runs table
    engine = sa.create_engine(fresh_postgres_url)
    with engine.connect() as con:
        # only the test's jobs: the every-minute jobs of the stages also run when a minute turns
        runs = con.execute(sa.text("select job, due_at, worker, status from scheduler_runs "
                                   "where job like 'test.tick%'")).all()
    engine.dispose()
    assert len(runs) == len(lines) >= 40
    assert max(Counter((r.job, r.due_at) for r in runs).values()) == 1
    assert len({r.worker for r in runs}) == 2  # both processes did part of the work
    assert {r.status for r in runs} == {"ok"}


def test_a_dead_workers_job_is_taken_over_once_its_short_lease_runs_out(ml: MetricLoop) -> None:
    job = Job("victim", "* * * * *", lambda ctx: None)  # the default lease
    assert job.lease_seconds <= 300
    dead, alive = Scheduler(ml, worker="dead", jobs=[job]), Scheduler(ml, worker="alive", jobs=[job])
    dead.sync_jobs(T0)
    alive.sync_jobs(T0)
    assert len(dead.claim_due(T0 + dt.timedelta(minutes=1))) == 1  # claimed, then the worker is killed
    lease_ends = T0 + dt.timedelta(minutes=1, seconds=job.lease_seconds)
    with ml.store.session() as s:
        s.get(ScheduledJob, "victim").next_run_at = T0  # due again, as a missed occurrence would be
    assert alive.claim_due(lease_ends - dt.timedelta(seconds=1)) == []  # still leased
    (taken,) = alive.claim_due(lease_ends + dt.timedelta(seconds=1))  # minutes, not an hour
    alive.execute(taken)
    with ml.store.session() as s:
        row = s.get(ScheduledJob, "victim")
        assert (row.last_worker, row.last_status, row.lease_until) == ("alive", "ok", None)
    assert not dead.renew_lease(job)  # the dead worker's lease is gone for good


def test_a_running_jobs_lease_is_renewed_by_its_heartbeat(ml: MetricLoop) -> None:
    """A job runs 2.5 lease lengths; meanwhile it is made due again: another worker must not take
    it (without the heartbeat the lease would have run out after one lease length)."""
    stolen: list[int] = []
    other: list[Scheduler] = []

    def long_job(ctx: JobContext) -> None:
        time.sleep(1.0)
        with ml.store.session() as s:
            s.get(ScheduledJob, "long").next_run_at = dt.datetime.now(UTC) - dt.timedelta(minutes=1)
        time.sleep(0.5)
        stolen.extend(c.run_id for c in other[0].claim_due())

    job = Job("long", "* * * * *", long_job, lease_seconds=0.6)
    runner = Scheduler(ml, worker="runner", jobs=[job])
    other.append(Scheduler(ml, worker="other", jobs=[job]))
    runner.sync_jobs(T0)
    other[0].sync_jobs(T0)
    (claim,) = runner.claim_due()
    outcome = runner.execute(claim)
    assert outcome.status == "ok" and stolen == []
    with ml.store.session() as s:
        assert s.get(ScheduledJob, "long").lease_until is None  # released at the end
    assert len(other[0].claim_due()) == 1  # and free for the next worker once finished
