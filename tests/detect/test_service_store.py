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
