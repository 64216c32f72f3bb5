"""The detection tables migrate up and down on SQLite and PostgreSQL (own Alembic branch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from metricloop.store import Store
from metricloop.store.detect_models import Anomaly

DET_TABLES = {"det_anomalies", "det_labels", "det_monitor_revisions", "det_runs"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("fresh_postgres_url"))
    return f"sqlite:///{tmp_path / 'state.db'}"


def _tables(store: Store) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names())


def test_the_detect_branch_upgrades_and_downgrades_alone(url: str) -> None:
    store = Store(url)
    try:
        before = _tables(store)
        assert before >= DET_TABLES
        store.downgrade("detect@-2")  # the branch: 0006_handled (pending marks), then 0002 (tables)
        assert before - _tables(store) == DET_TABLES  # no other stage's table is touched
        store.upgrade()
        assert _tables(store) == before
    finally:
        store.dispose()


def test_a_fingerprint_is_stored_once(url: str) -> None:
    import datetime as dt

    store = Store(url)
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    row = {"fingerprint": "abc", "monitor": "m", "spec_hash": "h", "metric": "gmv", "grain": "hour",
           "slice": {"region": "华东"}, "slice_key": "region=华东", "state": "active", "start": t, "end": t,
           "peak": t, "severity": "warning"}
    try:
        with store.session() as s:
            s.add(Anomaly(**row))
        with pytest.raises(sa.exc.IntegrityError), store.session() as s:
            s.add(Anomaly(**row))
        with store.session() as s:
            [back] = s.scalars(sa.select(Anomaly))
            assert back.slice == {"region": "华东"} and back.start == t and back.detectors == []
    finally:
        store.dispose()


def test_upgrading_marks_existing_anomalies_handled_and_new_ones_start_pending(url: str) -> None:
    """0006_handled: anomalies stored by the previous version were handled by its pass (an upgrade
    must not replay them as alerts); an anomaly stored afterwards is pending until handled."""
    import datetime as dt

    store = Store(url)
    try:
        store.downgrade("detect@-1")  # the schema before the exactly-once loop
        with store.engine.begin() as con:
            con.execute(sa.text(
                "insert into det_anomalies (fingerprint, monitor, spec_hash, metric, grain, slice, slice_key, state,"
                " start, \"end\", peak, severity, points, detectors, seen_count, created_at, updated_at) values"
                " ('old', 'm', 'h', 'gmv', 'hour', '{}', '', 'active', :t, :t, :t, 'warning', 1, '[]', 1, :t, :t)"),
                {"t": dt.datetime(2026, 1, 1)})
        store.upgrade()
        t = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
        with store.session() as s:
            s.add(Anomaly(fingerprint="new", monitor="m", spec_hash="h", metric="gmv", grain="hour", slice={},
                          slice_key="", state="active", start=t, end=t, peak=t, severity="warning"))
        with store.session() as s:
            rows = {a.fingerprint: (a.handled_at is not None, a.decision) for a in s.scalars(sa.select(Anomaly))}
        assert rows == {"old": (True, "before_upgrade"), "new": (False, None)}
    finally:
        store.dispose()
