"""Scheduled work of the action stage: timers (deadlines, escalations, reminders) and delivery.

Delivery survives an unusable ``channels.yaml`` (e.g. ``metricloop serve`` of the demo folder
without the demo's receivers, so its ``ML_*`` variables are unset): messages stay queued,
the reason is logged once and shown on the channels page, and nothing crashes.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from metricloop.api.telemetry import DELIVERY_FAILURES
from metricloop.errors import ConfigError
from metricloop.scheduler.jobs import JobContext, job
from metricloop.store.workflow_models import DeliveryAttempt

log = logging.getLogger("metricloop.workflow")
_last_problem: dict[str, str | None] = {"dispatch": None}


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
            log.warning("notifications stay queued: %s", exc.message)
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
