"""The scheduler: one loop that runs registered jobs on cron schedules.

The stages' jobs are in ``metricloop/scheduler/stage_jobs.py``; a plugin registers its own in a
module named in ``METRICLOOP_JOB_MODULES``::

    from metricloop.scheduler import JobContext, job

    @job("acme.timers", "* * * * *", description="fire due deadlines, escalations and reminders")
    def timers(ctx: JobContext) -> object:
        return ctx.ml.workflow.tick().to_dict()

Jobs whose set depends on the project (one per monitor) come from a ``@job_source``.
"""

from metricloop.scheduler.jobs import Job, JobContext, job, job_source, registered_jobs

__all__ = ["Job", "JobContext", "job", "job_source", "registered_jobs"]
