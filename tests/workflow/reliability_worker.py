"""The process the reliability test kills: feeds 1,000 alerts through process → dispatch → tick
in passes of 50, on an accelerated clock shared with the test's receivers, until the outbox is
empty. Run as ``python reliability_worker.py PROJECT``; restarted after SIGKILL it simply starts
over (re-processing known alerts is a no-op, unfinished deliveries resume)."""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import time

from metricloop.notify.dispatch import outbox_stats
from metricloop.notify.policy import RetryPolicy
from metricloop.notify.senders import Notifier
from metricloop.service import MetricLoop
from metricloop.workflow.grouping import AlertInput

N_ALERTS = 1000
BATCH = 50
BASE = dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
REGIONS = ("r0", "r1", "r2", "r3", "r4")


def sim_clock() -> float:
    """Simulated epoch seconds: SIM_T0 + (real elapsed since REAL_T0) × SPEED."""
    return float(os.environ["SIM_T0"]) + (time.time() - float(os.environ["REAL_T0"])) * float(os.environ["SPEED"])


def sim_now() -> dt.datetime:
    return dt.datetime.fromtimestamp(sim_clock(), tz=dt.UTC)


def alerts() -> list[AlertInput]:
    """1,000 distinct anomalies: 200 metrics × 5 windows two days apart, one region each."""
    out = []
    for i in range(N_ALERTS):
        start = BASE + dt.timedelta(days=2 * (i // 200))
        out.append(AlertInput(
            fingerprint=f"fp{i:04d}", monitor="m", metric=f"m{i % 200:03d}", slice={"region": REGIONS[i % 5]},
            start=start, end=start + dt.timedelta(hours=1), severity=("critical", "high", "medium")[i % 3],
            actual=50.0 + i % 7, expected=100.0, impact=50.0, explanation={"causes": [f"cause {i}"]},
        ))
    return out


def main(project: str) -> None:
    ml = MetricLoop.open(project)
    policy = RetryPolicy(base_s=5, factor=2, cap_s=60, jitter=0.5, max_age_s=86400)
    rng = random.Random()
    todo = alerts()
    with Notifier(clock=sim_clock, timeout_s=3) as notifier:
        for i in range(0, len(todo), BATCH):
            rep = ml.workflow.process(todo[i : i + BATCH], now=sim_now())
            print(f"processed {i + BATCH} opened={len(rep.opened)} duplicates={rep.duplicates}", flush=True)
            d = ml.workflow.dispatch(sim_now(), notifier=notifier, policy=policy, rng=rng, lease_s=30)
            print(f"dispatched attempts={d.attempts} delivered={d.delivered}", flush=True)
        while outbox_stats(ml.store).get("pending", 0):
            ml.workflow.tick(sim_now())
            d = ml.workflow.dispatch(sim_now(), notifier=notifier, policy=policy, rng=rng, lease_s=30)
            print(f"dispatched attempts={d.attempts} delivered={d.delivered}", flush=True)
            time.sleep(0.02)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
