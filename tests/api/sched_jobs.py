"""Jobs for the two-process scheduler test (imported by workers via METRICLOOP_JOB_MODULES)."""

from __future__ import annotations

import os
import time

from metricloop.scheduler import JobContext, job


def _tick(ctx: JobContext) -> None:
    line = f"{ctx.due_at.isoformat()} {ctx.worker}\n"
    with open(os.environ["METRICLOOP_TEST_TICKS"], "a", encoding="utf-8") as f:
        f.write(line)
    time.sleep(0.4)  # long enough for the other worker to poll while this one holds the job


for _i in range(4):
    job(f"test.tick{_i}", "* * * * * *", description="append the due time to a file")(_tick)
