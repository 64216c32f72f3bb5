"""The scheduler: one loop that runs registered jobs on cron schedules.

Register a job in ``metricloop/<stage>/jobs.py`` (discovered automatically)::

    from metricloop.scheduler import JobContext, job

    @job("outbox.dispatch", "* * * * *", description="deliver queued notifications")
    def dispatch(ctx: JobContext) -> object:
        return ctx.ml.workflow.dispatch_outbox()

Jobs whose set depends on the project (one per monitor) come from a ``@job_source``.
"""

from metricloop.scheduler.jobs import Job, JobContext, job, job_source, registered_jobs

__all__ = ["Job", "JobContext", "job", "job_source", "registered_jobs"]
