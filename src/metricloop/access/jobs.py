"""Access-control housekeeping, run by the scheduler."""

from __future__ import annotations

from metricloop.scheduler.jobs import JobContext, job


@job("access.purge_sessions", "17 * * * *", description="delete expired and signed-out sessions")
def purge_sessions(ctx: JobContext) -> int:
    return ctx.ml.access.purge_sessions()
