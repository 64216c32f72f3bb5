"""The scheduler loop: claim due jobs, run them, record the outcome.

Claiming is one short transaction per tick::

    SELECT ... FROM scheduler_jobs WHERE enabled AND next_run_at <= now
        AND (lease_until IS NULL OR lease_until < now) FOR UPDATE SKIP LOCKED
    → next_run_at := next cron time after now, lease_until := now + lease,
      INSERT scheduler_runs (job, due_at)        -- unique (job, due_at)

With PostgreSQL (or MySQL 8 / MariaDB 10.6) several ``serve --worker`` processes share the
work: a row locked by one worker is skipped by the others, and the advanced ``next_run_at``
makes the occurrence disappear for everyone. The unique run key is the second guard (it is
what protects SQLite, which has no row locks). A missed occurrence (service down) runs once,
not once per missed period. The lease keeps a long job from overlapping itself and frees it
if its worker dies: while a job runs, a heartbeat renews its lease every third of the lease
(``lease_until := now + lease`` where this worker still holds it), so the lease can be short
(3 minutes by default) and a job of a killed worker is resumed by another worker within it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import select

from metricloop.scheduler.jobs import Job, JobContext, registered_jobs
from metricloop.secrets import redact
from metricloop.service import MetricLoop
from metricloop.store.access_models import JobRun, ScheduledJob
from metricloop.store.models import utcnow
from metricloop.telemetry import JOB_LAST_DURATION, JOB_RUNS

log = logging.getLogger("metricloop.scheduler")
SCHEDULE_LEN = 64  # scheduler_jobs.schedule: "<cron> <timezone>"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Claim:
    job: Job
    run_id: int
    due_at: dt.datetime


@dataclass(frozen=True)
class RunOutcome:
    job: str
    due_at: dt.datetime
    status: str  # ok | error
    seconds: float
    error: str | None = None


class Scheduler:
    """Runs this project's jobs; start it in a thread (``serve``) or in the foreground (``--worker``)."""

    def __init__(self, ml: MetricLoop, *, worker: str | None = None, jobs: list[Job] | None = None,
                 max_parallel: int = 4, tick_seconds: float = 1.0, resync_seconds: float = 60.0) -> None:
        self.ml = ml
        self.worker = worker or worker_name()
        self._fixed_jobs = jobs
        self.jobs: dict[str, Job] = {}
        self.max_parallel = max_parallel
        self.tick_seconds = tick_seconds
        self.resync_seconds = resync_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="metricloop-job")
        self._running: dict[str, Future[RunOutcome]] = {}
        self._last_sync = 0.0

    # ------------------------------------------------------------------ registry → table
    def sync_jobs(self, now: dt.datetime | None = None) -> None:
        """Make ``scheduler_jobs`` match the registered jobs (new, changed, removed)."""
        now = now or utcnow()
        self.jobs = {j.name: j for j in (self._fixed_jobs if self._fixed_jobs is not None
                                         else registered_jobs(self.ml))}
        tz = self.ml.project.tz
        with self.ml.store.session() as s:
            rows = {r.name: r for r in s.scalars(select(ScheduledJob))}
            for name, j in self.jobs.items():
                row = rows.get(name)
                if row is None:
                    s.add(ScheduledJob(name=name, schedule=j.schedule[:SCHEDULE_LEN], next_run_at=j.next_after(now, tz),
                                       enabled=True))
                elif row.schedule != j.schedule[:SCHEDULE_LEN] or not row.enabled:
                    row.schedule, row.enabled, row.next_run_at = j.schedule[:SCHEDULE_LEN], True, j.next_after(now, tz)
            for name, row in rows.items():
                if name not in self.jobs and row.enabled and self._fixed_jobs is None:
                    row.enabled = False  # kept for its history
        self._last_sync = time.monotonic()

    def _insert_missing(self, now: dt.datetime) -> None:
        """Sync the job rows; workers starting together race for the same rows (a duplicate
        insert, or a deadlock between their updates on PostgreSQL): the loser syncs again."""
        for attempt in range(3):
            try:
                self.sync_jobs(now)
                return
            except (sa.exc.IntegrityError, sa.exc.OperationalError):
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    # ------------------------------------------------------------------ claims
    def claim_due(self, now: dt.datetime | None = None, limit: int | None = None) -> list[Claim]:
        now = now or utcnow()
        limit = self.max_parallel if limit is None else limit
        if limit <= 0:
            return []
        tz = self.ml.project.tz
        claims: list[Claim] = []
        try:
            with self.ml.store.session() as s:
                q = (select(ScheduledJob)
                     .where(ScheduledJob.enabled.is_(True), ScheduledJob.next_run_at <= now,
                            ScheduledJob.name.in_(list(self.jobs)),
                            sa.or_(ScheduledJob.lease_until.is_(None), ScheduledJob.lease_until < now))
                     .order_by(ScheduledJob.next_run_at).limit(limit)
                     .with_for_update(skip_locked=True))
                for row in s.scalars(q):
                    j = self.jobs[row.name]
                    due = row.next_run_at
                    row.next_run_at = j.next_after(now, tz)
                    row.lease_until = now + dt.timedelta(seconds=j.lease_seconds)
                    row.last_started_at, row.last_worker = now, self.worker
                    run = JobRun(job=row.name, due_at=due, worker=self.worker, started_at=now)
                    s.add(run)
                    s.flush()
                    claims.append(Claim(j, run.id, due))
        except sa.exc.IntegrityError:
            return []  # another worker recorded this occurrence first (SQLite without row locks)
        return claims

    def renew_lease(self, job: Job, now: dt.datetime | None = None) -> bool:
        """Extend this worker's lease on ``job``; False when the lease is no longer ours (it ran
        out and another worker took the job over, or the run finished)."""
        now = now or utcnow()
        with self.ml.store.session() as s:
            result = s.execute(sa.update(ScheduledJob)
                               .where(ScheduledJob.name == job.name, ScheduledJob.last_worker == self.worker,
                                      ScheduledJob.lease_until.is_not(None))
                               .values(lease_until=now + dt.timedelta(seconds=job.lease_seconds)))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _heartbeat(self, job: Job, done: threading.Event) -> None:
        every = max(job.lease_seconds / 3, 0.1)
        while not done.wait(every):
            try:
                if not self.renew_lease(job):
                    log.warning("job %s: lease lost by %s (taken over after it expired)", job.name, self.worker)
                    return
            except Exception as exc:  # the store may be briefly unreachable; the next beat retries
                log.warning("job %s: lease renewal failed: %s", job.name, redact(str(exc))[:300])

    def execute(self, claim: Claim) -> RunOutcome:
        """Run one claimed job and record how it went (errors are recorded, never raised)."""
        start = time.perf_counter()
        ctx = JobContext(self.ml, claim.due_at.astimezone(self.ml.project.tz), self.worker)
        error: str | None = None
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(claim.job, done), daemon=True,
                                name=f"metricloop-lease-{claim.job.name}"[:60])
        beat.start()
        try:
            claim.job.run(ctx)
            status = "ok"
        except Exception as exc:
            status, error = "error", redact(f"{type(exc).__name__}: {exc}")[:4000]
            log.exception("job %s failed", claim.job.name)
        finally:
            done.set()
            beat.join()
        seconds = time.perf_counter() - start
        finished = utcnow()
        with self.ml.store.session() as s:
            run = s.get(JobRun, claim.run_id)
            if run is not None:
                run.status, run.error, run.finished_at = status, error, finished
            row = s.get(ScheduledJob, claim.job.name)
            if row is not None:
                if row.last_worker == self.worker:  # not when another worker took it over meanwhile
                    row.lease_until = None
                row.last_finished_at, row.last_status, row.last_error = finished, status, error
                row.last_duration = seconds
        JOB_RUNS.labels(claim.job.name, status).inc()
        JOB_LAST_DURATION.labels(claim.job.name).set(seconds)
        return RunOutcome(claim.job.name, claim.due_at, status, seconds, error)

    def run_pending(self, now: dt.datetime | None = None) -> list[RunOutcome]:
        """Claim and run every due job now, in this thread (tests, ``metricloop run``-style use)."""
        if not self.jobs or time.monotonic() - self._last_sync > self.resync_seconds:
            self._insert_missing(now or utcnow())
        return [self.execute(c) for c in self.claim_due(now, limit=len(self.jobs))]

    # ------------------------------------------------------------------ the loop
    def tick(self) -> None:
        if time.monotonic() - self._last_sync > self.resync_seconds:
            self._insert_missing(utcnow())
        self._running = {k: f for k, f in self._running.items() if not f.done()}
        for claim in self.claim_due(limit=self.max_parallel - len(self._running)):
            self._running[f"{claim.job.name}@{claim.run_id}"] = self._pool.submit(self.execute, claim)

    def run_forever(self) -> None:
        self._insert_missing(utcnow())
        log.info("scheduler %s started with %d jobs: %s", self.worker, len(self.jobs), ", ".join(self.jobs))
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the state store may be briefly unreachable; keep going
                log.exception("scheduler tick failed")
            self._stop.wait(self.tick_seconds)
        self._pool.shutdown(wait=True)
        log.info("scheduler %s stopped", self.worker)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run_forever, name="metricloop-scheduler", daemon=True)
            self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler); running jobs complete first."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
