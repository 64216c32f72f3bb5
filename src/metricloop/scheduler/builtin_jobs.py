"""Jobs of the foundation (ingest checks) that have no stage package of their own."""

from __future__ import annotations

from metricloop.scheduler.jobs import JobContext, job


@job("ingest.checks", "*/15 * * * *", description="run the configured table checks (freshness SLA, nulls, ...)")
def table_checks(ctx: JobContext) -> int:
    if not ctx.ml.project.config.tables:
        return 0
    return len(ctx.ml.run_checks())
