"""The stages' scheduled jobs, registered with the scheduler door.

They live here, not beside their stage, because a job drives a stage through the facade (and
a monitor's job runs a whole loop pass): the scheduler is a door and may import the facade and
the loop; a stage may not. Each job is a few lines that call one public method of the facade.

A monitor's run is one loop pass limited to it (detect → explain → incidents → timers, see
:func:`metricloop.loop.run_pass`); messages are queued and the ``outbox.dispatch`` job delivers
them within a minute. A schedule is read in the monitor's own ``timezone`` when it sets one
(a team in another city watching its morning), else in the project's timezone.

Delivery survives an unusable ``channels.yaml`` (e.g. ``metricloop serve`` of the demo folder
without the demo's receivers, so its ``ML_*`` variables are unset): messages stay queued,
the reason is logged once and shown on the channels page, and nothing crashes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from metricloop.errors import ConfigError, MetricLoopError
from metricloop.scheduler.jobs import Job, JobContext, job, job_source
from metricloop.store.workflow_models import DeliveryAttempt
from metricloop.telemetry import DELIVERY_FAILURES, LOOP_PASS_SECONDS

if TYPE_CHECKING:
    from metricloop.loop import PassSummary
    from metricloop.service import MetricLoop

log = logging.getLogger("metricloop.scheduler")
_detect_log = logging.getLogger("metricloop.detect")
_workflow_log = logging.getLogger("metricloop.workflow")
_last_problem: dict[str, str | None] = {"dispatch": None}


# --- detect: every enabled monitor on its own cron ------------------------------------------

def run_monitor(ctx: JobContext, monitor: str) -> PassSummary:
    """One pass for ``monitor`` now; its duration is reported as the loop pass duration."""
    from metricloop.loop import run_pass

    summary = run_pass(ctx.ml, monitor=monitor, notify=False)
    LOOP_PASS_SECONDS.set(summary.seconds)
    if summary.failed_monitors:
        raise MetricLoopError(f"monitor {monitor} failed; see 'metricloop detect --monitor {monitor}'")
    return summary


def _runner(monitor: str) -> Callable[[JobContext], object]:
    return lambda ctx: run_monitor(ctx, monitor)


@job_source
def monitor_jobs(ml: MetricLoop) -> list[Job]:
    """``monitor.<name>`` for every enabled monitor; invalid definitions are logged, not run."""
    try:
        monitors = ml.detection.monitors(include_disabled=False)
    except MetricLoopError as exc:
        _detect_log.error("monitors are not scheduled: %s", exc)
        return []
    jobs = []
    for m in monitors:
        try:
            jobs.append(Job(f"monitor.{m.name}", m.spec.schedule, _runner(m.name),
                            description=f"detect → explain → incidents for monitor {m.name}",
                            timezone=m.spec.timezone))
        except MetricLoopError as exc:
            _detect_log.error("monitor %s is not scheduled: %s", m.name, exc)
    return jobs


# --- workflow: timers and delivery -----------------------------------------------------------

@job("workflow.timers", "* * * * *", description="fire due deadlines, escalations and reminders")
def timers(ctx: JobContext) -> object:
    return ctx.ml.workflow.tick().to_dict()


@job("outbox.dispatch", "* * * * *", description="deliver queued notifications")
def dispatch(ctx: JobContext) -> dict[str, object]:
    """Deliver the due outbox rows; failed attempts are counted per channel for ``/metrics``."""
    started = dt.datetime.now(dt.UTC)
    try:
        report = ctx.ml.workflow.dispatch()
    except ConfigError as exc:
        if _last_problem["dispatch"] != exc.message:  # once per distinct problem, not every minute
            _workflow_log.warning("notifications stay queued: %s", exc.message)
            _last_problem["dispatch"] = exc.message
        return {"delivered": 0, "problem": exc.message}
    _last_problem["dispatch"] = None
    with ctx.ml.store.session() as s:
        failed = s.execute(sa.select(DeliveryAttempt.channel, sa.func.count())
                           .where(DeliveryAttempt.started_at >= started, DeliveryAttempt.outcome != "sent")
                           .group_by(DeliveryAttempt.channel)).all()
    for channel, n in failed:
        DELIVERY_FAILURES.labels(str(channel)).inc(int(n))
    return {"delivered": report.delivered, "dead": report.dead, "failed_attempts": sum(int(n) for _, n in failed)}


# --- review: the weekly loop-health report ---------------------------------------------------

@job("review.weekly_report", "0 9 * * 1", description="queue last week's loop-health report to the default channels")
def weekly_report(ctx: JobContext) -> list[str]:
    """Every Monday morning, to the default channels of owners.yaml."""
    channels = list(ctx.ml.workflow.owners.channels)
    if not channels:
        return []
    return ctx.ml.review.send_weekly_report(channels, now=ctx.due_at)


# --- access: housekeeping --------------------------------------------------------------------

@job("access.purge_sessions", "17 * * * *", description="delete expired and signed-out sessions")
def purge_sessions(ctx: JobContext) -> int:
    return ctx.ml.access.purge_sessions()


# --- ingest: the table checks of project.yaml ------------------------------------------------

@job("ingest.checks", "*/15 * * * *", description="run the configured table checks (freshness SLA, nulls, ...)")
def table_checks(ctx: JobContext) -> int:
    if not ctx.ml.project.config.tables:
        return 0
    return len(ctx.ml.run_checks())
