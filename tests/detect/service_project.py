"""A small real project for the detection service: hourly sessions of two regions, loaded
through ``ml.ingest`` (so ingest freshness exists), with an incident that tests inject."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from metricloop.service import MetricLoop

START = dt.datetime(2026, 1, 5)  # a Monday
DAYS = 42

MODELS = textwrap.dedent("""\
    semantic_models:
      - name: traffic
        table: traffic
        defaults: {agg_time_dimension: hour}
        dimensions:
          - {name: hour, type: time, type_params: {time_granularity: hour}}
          - {name: region, type: categorical}
        measures:
          - {name: session_count, agg: sum, expr: sessions}
    metrics:
      - {name: sessions, measure: session_count}
    """)

MONITOR = textwrap.dedent("""\
    name: sessions_by_region
    metric: sessions
    by: [region]
    total: false
    grain: hour
    detectors:
      - type: seasonal
        params: {warning: 4, critical: 6}
    noise:
      min_rel_deviation: 0.2
      consecutive: 2
    """)


def traffic(until: dt.datetime, drop: tuple[str, dt.datetime, dt.datetime] | None = None) -> pd.DataFrame:
    """Hourly sessions per region (daily shape + mild noise) up to ``until`` inclusive.

    ``drop`` = (region, first hour, last hour): that region keeps 20 % of its sessions there.
    """
    rng = np.random.default_rng(7)
    hours = pd.date_range(START, until, freq="h")
    shape = 1.0 + 0.6 * np.sin((hours.hour.to_numpy() - 6) / 24 * 2 * np.pi)
    frames = []
    for region, level in (("east", 400.0), ("west", 300.0)):
        values = level * shape * rng.normal(1.0, 0.03, len(hours))
        if drop and drop[0] == region:
            hit = (hours >= drop[1]) & (hours <= drop[2])
            values[hit] *= 0.2
        frames.append(pd.DataFrame({"hour": hours, "region": region, "sessions": np.round(values).astype(int)}))
    return pd.concat(frames, ignore_index=True)


def write_project(root: Path, state_url: str | None = None) -> Path:
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "monitors").mkdir(exist_ok=True)
    state = f"state:\n  url: {state_url}\n" if state_url else ""
    (root / "metricloop.yaml").write_text(
        f"name: det\ntimezone: Asia/Shanghai\n{state}tables:\n  traffic: {{time_column: hour}}\n", encoding="utf-8"
    )
    (root / "models" / "traffic.yaml").write_text(MODELS, encoding="utf-8")
    (root / "monitors" / "sessions.yaml").write_text(MONITOR, encoding="utf-8")
    return root


def load(ml: MetricLoop, frame: pd.DataFrame, tmp: Path, mode: str = "replace") -> None:
    """Load rows into the warehouse through the ingest path (records freshness)."""
    path = tmp / f"traffic_{len(list(tmp.glob('traffic_*.csv')))}.csv"
    frame.to_csv(path, index=False)
    ml.ingest(str(path), "traffic", mode=mode)  # type: ignore[arg-type]
