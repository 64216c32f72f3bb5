"""The job registry: static jobs (``@job``) and per-project job sources (``@job_source``).

Discovery imports the stages' jobs (``metricloop.scheduler.stage_jobs``: jobs drive stages
through the facade, so they live with this door, not beside their stage), plus the modules
named in ``METRICLOOP_JOB_MODULES`` (comma-separated; for plugins and tests).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from metricloop.errors import ConfigError

if TYPE_CHECKING:
    from metricloop.service import MetricLoop


@dataclass(frozen=True)
class JobContext:
    """What a job gets: the facade, the time it was due (project-local), and who runs it."""

    ml: MetricLoop
    due_at: dt.datetime
    worker: str


JobFn = Callable[[JobContext], object]
LEASE_SECONDS = 180.0  # how long a dead worker's job stays taken before another worker resumes it


def default_lease() -> float:
    """The job lease in seconds: 180, or ``METRICLOOP_JOB_LEASE_SECONDS`` (at least 1)."""
    text = os.environ.get("METRICLOOP_JOB_LEASE_SECONDS", "").strip()
    try:
        return max(float(text), 1.0) if text else LEASE_SECONDS
    except ValueError:
        raise ConfigError(f"METRICLOOP_JOB_LEASE_SECONDS: {text[:40]!r} is not a number of seconds",
                          zh=f"METRICLOOP_JOB_LEASE_SECONDS：{text[:40]!r} 不是秒数") from None


@dataclass(frozen=True)
class Job:
    """``cron`` has 5 fields (minute precision) or 6 (the 6th is seconds); it is read in
    ``timezone`` (an IANA name, e.g. a monitor's own) or, when that is unset, the project's."""

    name: str
    cron: str
    run: JobFn
    description: str = ""
    # A running job's lease is renewed every lease/3 (heartbeat), so the lease only bounds how
    # long a job whose worker died (kill -9, power loss) stays taken: another worker resumes it then.
    lease_seconds: float = field(default_factory=default_lease)
    timezone: str | None = None

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron):
            raise ConfigError(f"job '{self.name}': {self.cron!r} is not a cron expression like '*/5 * * * *'",
                              zh=f"任务 '{self.name}'：{self.cron!r} 不是有效的 cron 表达式")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(
                    f"job '{self.name}': {self.timezone!r} is not an IANA timezone like 'Asia/Shanghai'",
                    zh=f"任务 '{self.name}'：{self.timezone!r} 不是有效的时区（如 Asia/Shanghai）",
                ) from None

    @property
    def schedule(self) -> str:
        """What the schedule table stores: the cron and, when set, its timezone (so changing
        either reschedules the job)."""
        return self.cron if self.timezone is None else f"{self.cron} {self.timezone}"

    def next_after(self, moment: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
        """The first due time strictly after ``moment`` (returned in UTC); ``tz`` is the
        project's timezone, used when the job has none of its own."""
        local = moment.astimezone(ZoneInfo(self.timezone) if self.timezone else tz)
        nxt: dt.datetime = croniter(self.cron, local).get_next(dt.datetime)
        return nxt.astimezone(dt.UTC)


_JOBS: dict[str, Job] = {}
_SOURCES: list[Callable[[MetricLoop], Iterable[Job]]] = []
_discovered = False


def job(name: str, cron: str, *, description: str = "",
        lease_seconds: float | None = None) -> Callable[[JobFn], JobFn]:
    """Register ``fn(ctx)`` to run on ``cron``."""

    def deco(fn: JobFn) -> JobFn:
        _JOBS[name] = Job(name, cron, fn, description or (fn.__doc__ or "").strip().split("\n")[0],
                          default_lease() if lease_seconds is None else lease_seconds)
        return fn

    return deco


def job_source(fn: Callable[[MetricLoop], Iterable[Job]]) -> Callable[[MetricLoop], Iterable[Job]]:
    """Register a function that lists jobs for a project (e.g. one per monitor file)."""
    _SOURCES.append(fn)
    return fn


def discover() -> None:
    """Import the stages' jobs (:mod:`metricloop.scheduler.stage_jobs`) and the modules named in
    ``METRICLOOP_JOB_MODULES``, once; importing a module registers its jobs."""
    global _discovered
    if _discovered:
        return
    importlib.import_module("metricloop.scheduler.stage_jobs")
    for name in filter(None, (m.strip() for m in os.environ.get("METRICLOOP_JOB_MODULES", "").split(","))):
        importlib.import_module(name)
    _discovered = True


def registered_jobs(ml: MetricLoop) -> list[Job]:
    """Every job for this project: static ones plus those the sources list now."""
    discover()
    jobs = dict(_JOBS)
    for source in _SOURCES:
        for j in source(ml):
            jobs[j.name] = j
    return sorted(jobs.values(), key=lambda j: j.name)
