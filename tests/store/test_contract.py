"""One contract suite for the state store, run on SQLite and on PostgreSQL (Dagster-style)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from metricloop.store import Store
from metricloop.store.models import DefinitionRevision, IngestLoad, IngestReject


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    s = Store(url)
    yield s
    s.dispose()


def test_migrations_reach_head_and_are_idempotent(store: Store) -> None:
    with store.engine.connect() as con:
        assert Store.current_heads(con) == Store.head_revisions()
    store.upgrade()  # again: no-op
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"definition_revisions", "ingest_loads", "ingest_rejects", "table_checks"} <= tables


def test_downgrade_to_base_and_back(store: Store) -> None:
    store.downgrade("base")
    assert "definition_revisions" not in sa.inspect(store.engine).get_table_names()
    store.upgrade()
    assert "definition_revisions" in sa.inspect(store.engine).get_table_names()


def test_revisions_are_unique_per_name_and_version(store: Store) -> None:
    def rev(version: int) -> DefinitionRevision:
        return DefinitionRevision(
            kind="metric",
            name="gmv",
            version=version,
            change="created",
            calc_hash="a",
            meta_hash="b",
            definition={"name": "gmv", "label": {"zh-CN": "成交额"}},
        )

    with store.session() as s:
        s.add(rev(1))
    with pytest.raises(sa.exc.IntegrityError), store.session() as s:
        s.add(rev(1))
    with store.session() as s:
        got = s.scalars(select(DefinitionRevision)).one()
        assert got.definition["label"]["zh-CN"] == "成交额"
        assert got.created_at.tzinfo is not None


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(IngestLoad(table_name="t", source="f", mode="append", status="running"))
        s.flush()
        raise RuntimeError("crash mid-run")
    with store.session() as s:
        assert s.scalars(select(IngestLoad)).all() == []


def test_rejects_cascade_with_their_load_and_times_round_trip(store: Store) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with store.session() as s:
        load = IngestLoad(table_name="t", source="f", mode="append", status="ok", max_event_time=when)
        s.add(load)
        s.flush()
        s.add(IngestReject(load_id=load.id, file="f.csv", line=3, column="a", reason="bad"))
    with store.session() as s:
        got = s.scalars(select(IngestLoad)).one()
        assert got.max_event_time == when
        s.delete(got)
    with store.session() as s:
        assert s.scalars(select(IngestReject)).all() == []
