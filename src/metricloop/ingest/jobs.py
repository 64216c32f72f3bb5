"""The ingest stage's scheduled job: the table checks of project.yaml (freshness SLA, nulls, ...).

Found by :func:`metricloop.scheduler.jobs.discover` like every stage's ``jobs`` module.
"""

from __future__ import annotations

from metricloop.scheduler.jobs import JobContext, job


@job("ingest.checks", "*/15 * * * *", description="run the configured table checks (freshness SLA, nulls, ...)")
def table_checks(ctx: JobContext) -> int:
    if not ctx.ml.project.config.tables:
        return 0
    return len(ctx.ml.run_checks())
