"""The loop is exactly-once and resumable: real ``metricloop`` processes are killed with SIGKILL
mid-backfill and mid-pass, lose their PostgreSQL connections, or meet a broken owners.yaml; the
rerun must leave exactly what an undisturbed run leaves — the same incidents (metric, slice,
start), the same alerts and the same outbox message ids — with 0 lost, 0 duplicated and nothing
pending. No mocks: subprocesses, a SQLite file or the machine's PostgreSQL, SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reliability.project import (
    BACKFILL_FROM,
    DROPS,
    backfill_args,
    copy_project,
    count,
    duplicates,
    env,
    metricloop,
    outcome,
    run,
    state_url,
    write_project,
)

INCIDENTS = "select count(*) from wf_incidents"
HANDLED = "select count(*) from det_anomalies where handled_at is not null"
PENDING = "select count(*) from det_anomalies where state = 'active' and handled_at is null"
ANOMALIES = "select count(*) from det_anomalies"


def start(root: Path, *args: str, extra_env: dict[str, str] | None = None, log: Path | None = None
          ) -> subprocess.Popen[bytes]:
    out = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(metricloop(*args, "-p", str(root)), env=env(extra_env), stdout=out,
                            stderr=subprocess.STDOUT)


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 180) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False when it finished first (nothing to interrupt)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            return True
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the run never reached the point where it should be killed")


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert len(want["incidents"]) == len(DROPS)
    assert got["incidents"] == want["incidents"], "incidents differ from the undisturbed run"
    assert got["alerts"] == want["alerts"] and not duplicates(got["alerts"])
    assert got["outbox"] == want["outbox"] and not duplicates(got["outbox"])
    assert got["pending"] == 0 and got["unhandled_alerts"] == 0


def interrupted_backfill(root: Path, url: str) -> int:
    """Start a backfill and SIGKILL it once some (not all) incidents exist; returns how many."""
    for _ in range(3):
        proc = start(root, *backfill_args("--no-notify"))
        if kill_when(proc, lambda: 0 < count(url, INCIDENTS) < len(DROPS)):
            n = count(url, INCIDENTS)
            assert 0 < n < len(DROPS)
            return n
        raise AssertionError("the backfill finished before it could be killed")
    raise AssertionError("unreachable")


@pytest.mark.slow
def test_kill_9_mid_backfill_then_rerun_opens_exactly_the_missing_incidents(
    project: Path, reference: dict[str, Any]
) -> None:
    url = state_url(project)
    before = interrupted_backfill(project, url)
    handled = count(url, HANDLED)
    assert count(url, PENDING) == len(DROPS) - handled > 0  # stored, not handled: what used to be lost

    rerun = run(project, *backfill_args("--no-notify", "--format", "json"))
    assert f'"incidents_opened": {len(DROPS) - before}' in rerun.stdout
    assert_same(outcome(url), reference)

    again = run(project, *backfill_args("--no-notify", "--format", "json"))  # nothing left: a no-op
    assert '"incidents_opened": 0' in again.stdout and '"anomalies": 0' in again.stdout
    assert_same(outcome(url), reference)


@pytest.mark.slow
def test_an_owners_error_mid_run_fails_cleanly_and_the_fixed_rerun_opens_what_is_pending(
    project: Path, reference: dict[str, Any]
) -> None:
    url = state_url(project)
    interrupted_backfill(project, url)
    incidents, handled = count(url, INCIDENTS), count(url, HANDLED)
    owners = project / "owners.yaml"
    good = owners.read_text(encoding="utf-8")
    owners.write_text(good.replace("owner: ana}", "owner: anna}"), encoding="utf-8")  # a typo: nobody

    failed = run(project, *backfill_args("--no-notify"), check=False)
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr + failed.stdout
    assert "owners.yaml" in failed.stderr + failed.stdout  # says which file
    assert (count(url, INCIDENTS), count(url, HANDLED)) == (incidents, handled)  # nothing marked handled

    owners.write_text(good, encoding="utf-8")
    run(project, *backfill_args("--no-notify"))
    assert_same(outcome(url), reference)


@pytest.mark.slow
@pytest.mark.postgres
def test_dropped_postgres_connections_mid_backfill_then_rerun(
    pg_url: str, tmp_path: Path, reference: dict[str, Any]
) -> None:
    root = write_project(tmp_path / "pg", state_url=pg_url)
    app = f"ml_rel_{uuid.uuid4().hex[:8]}"  # libpq's application_name: only this run's connections
    admin = sa.create_engine(pg_url)
    terminated = 0
    try:
        proc = start(root, *backfill_args("--no-notify"), extra_env={"PGAPPNAME": app}, log=tmp_path / "run1.log")
        deadline = time.monotonic() + 180
        while count(pg_url, INCIDENTS) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the backfill finished before its connections could be dropped"
        stop = time.monotonic() + 3
        while proc.poll() is None and time.monotonic() < stop:  # drop them again and again for 3 s
            with admin.connect() as con:
                terminated += int(con.execute(sa.text(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = :a"),
                    {"a": app}).scalar() or 0)
            time.sleep(0.05)
        proc.wait(180)
    finally:
        admin.dispose()
    assert terminated > 0
    partial = count(pg_url, INCIDENTS)
    assert partial < len(DROPS) or proc.returncode == 0, (tmp_path / "run1.log").read_text(errors="replace")
    run(root, *backfill_args("--no-notify"))
    assert_same(outcome(pg_url), reference)


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_pass_then_restart(template: Path, tmp_path: Path) -> None:
    """``serve --worker`` runs the monitor's pass (detection stores 13 anomalies, then the workflow
    opens their incidents in one transaction); killed between the two, a restarted worker opens
    them all — as an undisturbed ``metricloop run`` on a copy does."""
    # both copies judged up to the backfill's start, so the next live pass covers the 14 days
    ref, root = copy_project(template, tmp_path / "ref"), copy_project(template, tmp_path / "w")
    for p in (ref, root):
        run(p, "run", "--at", BACKFILL_FROM.isoformat(), "--no-notify")
    run(ref, "run", "--no-notify")
    want = outcome(state_url(ref))
    assert len(want["incidents"]) == len(DROPS)

    url = state_url(root)
    job = "monitor.sessions_by_region"
    _schedule_now(root, job)
    short_lease = {"METRICLOOP_JOB_LEASE_SECONDS": "6"}  # the dead worker's lease really runs out
    worker = start(root, "serve", "--worker", extra_env=short_lease, log=tmp_path / "worker1.log")
    try:
        killed = kill_when(worker, lambda: count(url, ANOMALIES) > 0 and count(url, INCIDENTS) == 0)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert killed, (tmp_path / "worker1.log").read_text(errors="replace")
    assert count(url, INCIDENTS) == 0 and count(url, PENDING) == len(DROPS)

    _schedule_now(root, job, keep_lease=True)  # due again; the dead worker's lease is kept
    killed_at = time.monotonic()
    worker = start(root, "serve", "--worker", extra_env=short_lease, log=tmp_path / "worker2.log")
    try:
        deadline = time.monotonic() + 120
        while (count(url, PENDING) or count(url, INCIDENTS) < len(DROPS)) and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker2.log").read_text(errors="replace")
            time.sleep(0.2)
        taken_over_after = time.monotonic() - killed_at
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert taken_over_after < 100, taken_over_after  # the lease, not an hour
    got = outcome(url)
    assert got["incidents"] == want["incidents"]
    assert got["alerts"] == want["alerts"] and got["outbox"] == want["outbox"]
    assert got["pending"] == 0 and not duplicates(got["outbox"])


def _schedule_now(root: Path, job: str, *, keep_lease: bool = False) -> None:
    """Make ``job`` due now (as its cron would a minute later); ``keep_lease``: only that — the
    lease a killed worker held stays and must run out by itself."""
    from metricloop.scheduler.runner import Scheduler
    from metricloop.service import MetricLoop

    ml = MetricLoop.open(root)
    try:
        if not keep_lease:
            Scheduler(ml).sync_jobs()
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        clear = "" if keep_lease else ", lease_until = null"
        with ml.store.session() as s:
            s.execute(sa.text(f"update scheduler_jobs set next_run_at = :t{clear} where name = :n"),
                      {"t": past.replace(tzinfo=None), "n": job})
            if keep_lease:
                lease = s.execute(sa.text("select lease_until from scheduler_jobs where name = :n"),
                                  {"n": job}).scalar()
                assert lease is not None, "the killed worker held the job's lease"
    finally:
        ml.close()


def test_pending_is_what_a_dead_pass_left(project: Path) -> None:
    """In-process and fast: detection stores anomalies; the workflow fails (owners.yaml broken) and
    marks nothing; fixed, one pass handles each pending anomaly once and records its decision."""
    from metricloop import loop
    from metricloop.errors import MetricLoopError
    from metricloop.service import MetricLoop

    owners = project / "owners.yaml"
    good = owners.read_text(encoding="utf-8")
    owners.write_text(good.replace("owner: ana}", "owner: anna}"), encoding="utf-8")
    ml = MetricLoop.open(project)
    try:
        at = BACKFILL_FROM + dt.timedelta(days=1)  # the first drop is in the last 24 hours
        with pytest.raises(MetricLoopError):
            loop.run_pass(ml, at, explain=False, notify=False)
        pending = ml.detection.pending()
        assert len(pending) == 1 and not ml.workflow.list_incidents()
        owners.write_text(good, encoding="utf-8")
        ml.workflow.reload()
        summary = loop.run_pass(ml, at, explain=False, notify=False)
        assert (summary.anomalies, summary.resumed, summary.incidents_opened) == (1, 1, 1)
        assert ml.detection.pending() == []
        assert loop.run_pass(ml, at, explain=False, notify=False).incidents_opened == 0
        with ml.store.session() as s:
            decisions = s.execute(sa.text("select decision from det_anomalies where handled_at is not null")).all()
        assert [d for (d,) in decisions] == ["INC-1"]
    finally:
        ml.close()


@pytest.mark.postgres
def test_two_passes_at_once_handle_each_pending_anomaly_once(pg_url: str, tmp_path: Path) -> None:
    """Two processes' passes (here: two connections, two threads) take the same pending anomalies
    at the same moment; the row locks let one open the incidents and the other skip them."""
    import threading

    from metricloop.service import MetricLoop

    root = write_project(tmp_path / "pg", state_url=pg_url)
    first, second = MetricLoop.open(root), MetricLoop.open(root)
    try:
        first.detection.run(at=BACKFILL_FROM + dt.timedelta(days=3))  # three drops in the last 3 days
        assert first.detection.run(at=BACKFILL_FROM + dt.timedelta(days=3)).events == []  # stored once
        alerts = [e.alert() for e in first.detection.pending()]
        assert len(alerts) >= 1
        now = BACKFILL_FROM + dt.timedelta(days=3)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(ml: MetricLoop) -> None:
            try:
                barrier.wait(10)
                ml.workflow.process(alerts, now=now, pending_only=True)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(ml,)) for ml in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        got = outcome(pg_url)
        assert len(got["alerts"]) == len(alerts) and not duplicates(got["alerts"])
        assert got["pending"] == 0 and len(got["incidents"]) >= 1
        assert not duplicates(got["outbox"])
    finally:
        first.close()
        second.close()
