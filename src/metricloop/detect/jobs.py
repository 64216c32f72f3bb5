"""Scheduled detection: every enabled monitor runs on its own cron schedule.

A monitor's run is one loop pass limited to it (detect → explain → incidents → timers, see
:func:`metricloop.loop.run_pass`); messages are queued and the ``outbox.dispatch`` job delivers
them within a minute. A schedule is read in the monitor's own ``timezone`` when it sets one
(a team in another city watching its morning), else in the project's timezone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from metricloop.api.telemetry import LOOP_PASS_SECONDS
from metricloop.errors import MetricLoopError
from metricloop.scheduler.jobs import Job, JobContext, job_source

if TYPE_CHECKING:
    from metricloop.loop import PassSummary
    from metricloop.service import MetricLoop

log = logging.getLogger("metricloop.detect")


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
        log.error("monitors are not scheduled: %s", exc)
        return []
    jobs = []
    for m in monitors:
        try:
            jobs.append(Job(f"monitor.{m.name}", m.spec.schedule, _runner(m.name),
                            description=f"detect → explain → incidents for monitor {m.name}",
                            timezone=m.spec.timezone))
        except MetricLoopError as exc:
            log.error("monitor %s is not scheduled: %s", m.name, exc)
    return jobs
