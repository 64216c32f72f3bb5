"""A small generated project for the reliability suite: the loop's real work in seconds.

Hourly sessions of six regions over eight weeks (daily shape, mild noise) with thirteen
injected drops in the last two weeks, one a day, so an undisturbed backfill of those two
weeks opens thirteen incidents. Owners, escalation and a Standard Webhooks channel make every
incident write timers and outbox rows, so a resumed run has something to lose or duplicate.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tests.detect.service_project import MODELS  # the same hourly traffic model

END = dt.datetime(2026, 3, 1)  # exclusive: the last hour loaded is 2026-02-28 23:00
DAYS = 56
REGIONS = ("r0", "r1", "r2", "r3", "r4", "r5")
BACKFILL_FROM = END - dt.timedelta(days=14)
AT = END + dt.timedelta(hours=1)
# (region, day of the backfill window, first hour): 20 % of the usual sessions for five hours
DROPS = [(REGIONS[i % len(REGIONS)], i, 8 + (i * 5) % 10) for i in range(13)]

MONITOR = textwrap.dedent("""\
    name: sessions_by_region
    metric: sessions
    by: [region]
    total: false
    grain: hour
    schedule: "* * * * *"
    delay: 0m
    detectors:
      - type: seasonal
        params: {warning: 4, critical: 6}
    noise:
      min_rel_deviation: 0.3
      consecutive: 2
    """)

OWNERS = textwrap.dedent("""\
    people:
      ana: {name: Ana, email: ana@example.com, team: ops}
      bo: {name: Bo, email: bo@example.com, team: ops}
    teams:
      ops: {name: {zh-CN: 运维, en: Ops}, lead: ana, manager: bo, channels: [hook]}
    rules:
      - {metric: "*", owner: ana}
    escalation:
      - {after: 30 minutes, to: owner}
      - {after: 2 hours, to: team_lead}
    sla:
      ack: {critical: 15 minutes, high: 30 minutes, medium: 2 hours, low: 8 hours, info: 1 day}
      resolve: {critical: 4 hours, high: 1 day, medium: 3 days, low: 7 days, info: 14 days}
      group_window: 6 hours
    """)

CHANNELS = textwrap.dedent("""\
    channels:
      - name: hook
        type: webhook
        url: ${ML_WEBHOOK_URL}
        secret: ${ML_WEBHOOK_SECRET}
    """)

WEBHOOK_SECRET = "whsec_" + "cmVsaWFiaWxpdHktc3VpdGUtc2VjcmV0LWtleQ=="  # test key, base64 of ASCII


def drop_starts(drops: Sequence[tuple[str, int, int]] = DROPS) -> list[tuple[str, dt.datetime]]:
    return [(r, BACKFILL_FROM + dt.timedelta(days=day, hours=hour)) for r, day, hour in drops]


# the flood: 25 drops 13 hours apart, each hitting all 40 regions: 1,000 alerts, 25 incidents
FLOOD_REGIONS = tuple(f"f{k:02d}" for k in range(40))
FLOOD_DROPS = [(r, BACKFILL_FROM + dt.timedelta(hours=8 + 13 * i)) for i in range(25) for r in FLOOD_REGIONS]


def traffic(regions: Sequence[str] = REGIONS, drops: Sequence[tuple[str, dt.datetime]] | None = None) -> pd.DataFrame:
    """The warehouse table: hourly sessions per region, drops (five hours at 20 %) included."""
    rng = np.random.default_rng(14)
    hours = pd.date_range(END - dt.timedelta(days=DAYS), END - dt.timedelta(hours=1), freq="h")
    shape = 1.0 + 0.5 * np.sin((hours.hour.to_numpy() - 6) / 24 * 2 * np.pi)
    frames = []
    for k, region in enumerate(regions):
        values = (300.0 + 40 * k) * shape * rng.normal(1.0, 0.03, len(hours))
        for r, first in drop_starts() if drops is None else drops:
            if r == region:
                hit = (hours >= first) & (hours < first + dt.timedelta(hours=5))
                values[hit] *= 0.2
        frames.append(pd.DataFrame({"hour": hours, "region": region, "sessions": np.round(values).astype("int64")}))
    return pd.concat(frames, ignore_index=True)


def write_project(root: Path, state_url: str | None = None, *, flood: bool = False) -> Path:
    """The project on disk (DuckDB warehouse); ``state_url`` puts the state store elsewhere;
    ``flood``: 40 regions and 1,000 alerts instead of 6 regions and 13."""
    import duckdb

    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "monitors").mkdir(exist_ok=True)
    state = f'state:\n  url: "{state_url}"\n' if state_url else ""
    (root / "metricloop.yaml").write_text(
        "name: reliability\ntimezone: UTC\nlocale: en\nbase_url: http://127.0.0.1:1\n"
        "warehouse:\n  type: duckdb\n  path: warehouse.duckdb\n"
        f"tables:\n  traffic:\n    time_column: hour\n{state}", encoding="utf-8")
    (root / "models" / "traffic.yaml").write_text(MODELS, encoding="utf-8")
    (root / "monitors" / "sessions.yaml").write_text(MONITOR, encoding="utf-8")
    (root / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    (root / "channels.yaml").write_text(CHANNELS, encoding="utf-8")
    duckdb.connect(str(root / "warehouse.duckdb")).close()
    data = root / "traffic.parquet"
    (traffic(FLOOD_REGIONS, FLOOD_DROPS) if flood else traffic()).to_parquet(data, index=False)
    from metricloop.service import MetricLoop

    ml = MetricLoop.open(root)  # through the ingest path, so the loop knows how fresh the data is
    try:
        ml.ingest(str(data), "traffic", mode="replace")  # type: ignore[arg-type]
    finally:
        ml.close()
    return root


def copy_project(src: Path, dst: Path) -> Path:
    """A copy, state included (the SQLite store holds the ingest records: how fresh the data is)."""
    shutil.copytree(src, dst)
    return dst


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``metricloop`` subprocess (the webhook points nowhere by default)."""
    out = {**os.environ, "ML_WEBHOOK_URL": "http://127.0.0.1:9/hook", "ML_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "METRICLOOP_LOCALE": "en", "PYTHONUNBUFFERED": "1"}
    out.update(extra or {})
    return out


def metricloop(*args: str) -> list[str]:
    return [sys.executable, "-m", "metricloop", *args]


def run(root: Path, *args: str, extra_env: dict[str, str] | None = None, check: bool = True,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``metricloop ARGS -p ROOT`` to completion."""
    proc = subprocess.run(metricloop(*args, "-p", str(root)), env=env(extra_env), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"metricloop {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def backfill_args(*more: str) -> list[str]:
    return ["run", "--backfill-from", BACKFILL_FROM.isoformat(), "--at", AT.isoformat(), *more]


def state_url(root: Path) -> str:
    """The state store's URL as the project resolves it."""
    from metricloop.project import Project

    return Project.load(root).state_url()


def outcome(url: str) -> dict[str, Any]:
    """What a run left behind, comparable between runs: incidents (metric, slice, window start),
    outbox ids, alert fingerprints, and the anomalies still pending.

    An outbox id names its incident by number (``inc7-open-hook``); numbers come from a sequence
    that a rolled-back transaction does not give back on PostgreSQL, so they are compared through
    the incident they stand for, not as numbers."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            incidents = con.execute(sa.text(
                "select metric, slice, window_start, id from wf_incidents order by window_start")).all()
            outbox = con.execute(sa.text("select id from notify_outbox")).scalars().all()
            alerts = con.execute(sa.text("select fingerprint from wf_alerts")).scalars().all()
            pending = con.execute(sa.text(
                "select count(*) from det_anomalies where state = 'active' and handled_at is null")).scalar()
            unhandled_alerts = con.execute(sa.text(
                "select count(*) from wf_alerts a join det_anomalies d on d.fingerprint = a.fingerprint "
                "where d.handled_at is null")).scalar()
    finally:
        engine.dispose()
    which = {f"inc{i}-": f"inc[{m} {_json(s)} {_naive(t)}]-" for m, s, t, i in incidents}
    return {
        "incidents": [(m, _json(s), _naive(t)) for m, s, t, _ in incidents],
        "outbox": sorted(_by_incident(o, which) for o in outbox),
        "alerts": sorted(alerts),
        "pending": pending,
        "unhandled_alerts": unhandled_alerts,
    }


def _by_incident(outbox_id: str, which: dict[str, str]) -> str:
    head = re.match(r"inc\d+-", outbox_id)
    return which.get(head.group(0), head.group(0)) + outbox_id[head.end():] if head else outbox_id


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            return int(con.execute(sa.text(sql)).scalar() or 0)
    except sa.exc.DBAPIError:
        return 0  # the table does not exist yet (the run is still migrating)
    finally:
        engine.dispose()


def duplicates(items: Sequence[Any]) -> list[Any]:
    seen: set[Any] = set()
    return [x for x in items if x in seen or seen.add(x)]  # type: ignore[func-returns-value]


def _json(v: Any) -> str:
    import json

    return json.dumps(json.loads(v) if isinstance(v, str) else v, sort_keys=True, ensure_ascii=False)


def _naive(t: Any) -> str:
    return str(t)[:19]
