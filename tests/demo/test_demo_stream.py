"""Streaming demo generation (generator.stream, io.write_stream): bounded chunks, same data."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metricloop.demo import generator as gen
from metricloop.demo.incidents import DEFAULT_INCIDENTS
from metricloop.demo.io import write_stream

# the tables of generate(seed=42, scale=0.02) before streaming existed (rows, digest below)
BEFORE = {"orders": [72618, "903489831ea99458"], "traffic": [784314, "04ac35a99f486695"],
          "payments": [70826, "f33526b486248667"], "deliveries": [61143, "d09fa0edccd64748"]}
BEFORE_TRUTH = "b48ef396d7896cea"


def digest(table: pa.Table) -> str:
    h = hashlib.sha256()
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        h.update(name.encode())
        h.update(repr(col.to_pylist()).encode())
    return h.hexdigest()[:16]


def _written(folder: Path) -> tuple[dict[str, list[object]], list[dict[str, object]]]:
    paths, rows = write_stream(folder, seed=42, scale=0.02)
    tables = {name: pq.read_table(paths[name]) for name in rows}
    assert {n: t.num_rows for n, t in tables.items()} == rows
    truth = json.loads(paths["ground_truth"].read_text(encoding="utf-8"))["incidents"]
    return {n: [t.num_rows, digest(t)] for n, t in tables.items()}, truth


def test_one_chunk_is_the_data_of_before(tmp_path: Path) -> None:
    assert len(gen.plan_chunks(gen.REFERENCE_START, gen.REFERENCE_END, 0.02, DEFAULT_INCIDENTS)) == 1
    tables, truth = _written(tmp_path)
    assert tables == BEFORE
    assert hashlib.sha256(json.dumps(truth, sort_keys=True, default=str).encode()).hexdigest()[:16] == BEFORE_TRUTH


def test_chunks_continue_ids_buyers_and_keep_every_incident(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen, "ONE_PIECE_ROWS", 10_000)
    monkeypatch.setattr(gen, "CHUNK_ROWS", 10_000)
    chunks = gen.plan_chunks(gen.REFERENCE_START, gen.REFERENCE_END, 0.02, DEFAULT_INCIDENTS)
    assert len(chunks) > 4
    assert chunks[0][0] == gen.REFERENCE_START and chunks[-1][1] == gen.REFERENCE_END
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    for spec in DEFAULT_INCIDENTS:  # no cut inside a window or the margin before it
        for c0, _ in chunks[1:]:
            cut = datetime(c0.year, c0.month, c0.day)
            assert not spec.start - timedelta(days=gen.INCIDENT_MARGIN_DAYS) < cut < spec.end, spec.id

    first, truth = _written(tmp_path / "a")
    again, truth_again = _written(tmp_path / "b")
    assert first == again and truth == truth_again  # a function of the seed, range and scale
    assert [t["id"] for t in truth] == [s.id for s in DEFAULT_INCIDENTS]
    orders = pq.read_table(tmp_path / "a" / "orders.parquet")
    ids = orders.column("order_id").to_numpy()
    assert (np.diff(ids) > 0).all()  # ids continue from chunk to chunk, in time order
    times = orders.column("order_time").to_numpy()
    assert (np.diff(times.astype("int64")) >= 0).all()
    # repeat buyers reach across chunks: buyers of the first chunk order again later
    cut = np.datetime64(chunks[1][0].isoformat())
    buyers = orders.column("buyer_id").to_numpy()
    early, late = set(buyers[times < cut]), set(buyers[times >= cut])
    assert len(early & late) > 0.2 * len(early)


def test_big_scales_are_cut_in_bounded_chunks() -> None:
    assert len(gen.plan_chunks(gen.REFERENCE_START, gen.REFERENCE_END, 1.0, DEFAULT_INCIDENTS)) == 1
    chunks = gen.plan_chunks(gen.REFERENCE_START, gen.REFERENCE_END, 20.0, DEFAULT_INCIDENTS)
    assert len(chunks) > 20
    # about a month each at scale 20 (~60-120 000 orders a day, 2 M a chunk, longer past an incident)
    assert max((b - a).days for a, b in chunks) <= 45
    assert gen.plan_chunks(date(2026, 1, 1), date(2026, 1, 2), 20.0) == [(date(2026, 1, 1), date(2026, 1, 2))]
