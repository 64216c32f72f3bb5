"""The weekly loop-health report, sent every Monday morning to the default channels of owners.yaml."""

from __future__ import annotations

from metricloop.scheduler.jobs import JobContext, job


@job("review.weekly_report", "0 9 * * 1", description="queue last week's loop-health report to the default channels")
def weekly_report(ctx: JobContext) -> list[str]:
    channels = list(ctx.ml.workflow.owners.channels)
    if not channels:
        return []
    return ctx.ml.review.send_weekly_report(channels, now=ctx.due_at)
