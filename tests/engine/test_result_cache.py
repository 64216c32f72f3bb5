"""The result cache (engine.cache): same answers as the warehouse, new numbers after a load, bounded."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest

from metricloop.engine.cache import ResultCache, execute_cached, result_cache
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.errors import ConfigError
from metricloop.service import MetricLoop

GMV_BY_REGION = MetricQuery(metrics=["gmv", "orders", "buyers"], group_by=["region"], grain="day",
                            start="2026-01-02", end="2026-01-20")


def test_cached_rows_are_the_warehouse_rows(tiny: MetricLoop) -> None:
    before = result_cache().stats()
    first = tiny.query(GMV_BY_REGION)
    again = tiny.query(GMV_BY_REGION)
    after = result_cache().stats()
    assert after.hits > before.hits  # the second answer came from the cache
    uncached = tiny.warehouse().execute(first.sql)
    assert first.table.equals(uncached) and again.table.equals(uncached)
    _, rows = tiny.query_rows(GMV_BY_REGION)  # the CLI's path reads the same cached result
    assert rows == uncached.to_pylist()


def test_a_load_invalidates(tiny: MetricLoop, tmp_path: Path) -> None:
    total = MetricQuery(metrics=["gmv", "orders"])
    gmv0, n0 = tiny.query(total).rows()[0].values()
    csv = tmp_path / "more.csv"
    csv.write_text("order_id,buyer_id,order_time,region,channel,amount,is_refunded\n"
                   "900001,5,2026-01-05 10:00:00,华东,app,1000.5,false\n"
                   "900002,6,2026-01-05 11:00:00,华北,web,99.5,false\n", encoding="utf-8")
    tiny.ingest(str(csv), "orders", mode="append")
    gmv1, n1 = tiny.query(total).rows()[0].values()
    assert n1 == n0 + 2
    assert float(gmv1) == pytest.approx(float(gmv0) + 1100.0)
    # a write through the connection itself (not the ledger) is seen too
    tiny.duckdb().connection.execute("delete from orders where order_id >= 900001")
    assert [float(v) for v in tiny.query(total).rows()[0].values()] == pytest.approx([float(gmv0), n0])


def test_in_memory_warehouse_is_not_cached() -> None:
    wh = DuckDBWarehouse(":memory:")
    cache = ResultCache(1 << 20)
    wh.execute("create table t as select 1 as x")
    assert execute_cached(wh, "select sum(x) as s from t", cache).to_pylist() == [{"s": 1}]
    wh.execute("insert into t values (41)")
    assert execute_cached(wh, "select sum(x) as s from t", cache).to_pylist() == [{"s": 42}]
    assert cache.stats().entries == 0
    wh.close()


def test_memory_bound_and_least_recently_used_out() -> None:
    tables = {k: pa.table({"v": list(range(k * 100, k * 100 + 100))}) for k in range(10)}
    size = tables[0].nbytes
    cache = ResultCache(size * 3)
    for k in range(3):
        assert cache.put(k, tables[k], size)
    assert cache.get(0) is tables[0]  # 0 is now the most recently used
    for k in range(3, 10):
        cache.put(k, tables[k], size)
        assert cache.stats().bytes <= size * 3
    assert cache.stats().entries == 3
    assert [k for k in range(10) if cache.get(k) is not None] == [7, 8, 9]
    assert not cache.put("huge", tables[0], size * 4)  # larger than the whole budget: not kept
    assert cache.get("huge") is None


def test_concurrent_misses_run_once() -> None:
    cache = ResultCache(1 << 20)
    release = threading.Event()
    calls: list[int] = []

    def compute() -> tuple[str, int]:
        calls.append(1)
        release.wait()
        return "answer", 10

    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get_or_compute("k", compute))) for _ in range(8)]
    for t in threads:
        t.start()
    while not calls:  # the first thread is computing; the others find it in flight
        threading.Event().wait(0.001)
    release.set()
    for t in threads:
        t.join()
    assert got == ["answer"] * 8 and len(calls) == 1


def test_budget_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from metricloop.engine.cache import budget_from_env

    monkeypatch.setenv("METRICLOOP_RESULT_CACHE_MB", "0")
    assert budget_from_env() == 0
    monkeypatch.setenv("METRICLOOP_RESULT_CACHE_MB", "lots")
    with pytest.raises(ConfigError, match="METRICLOOP_RESULT_CACHE_MB"):
        budget_from_env()


def test_derived_values_live_beside_a_cached_result() -> None:
    cache = ResultCache(1 << 20)
    kept, other = pa.table({"v": [1, 2]}), pa.table({"v": [1, 2]})
    cache.put("k", kept, kept.nbytes)
    calls: list[int] = []

    def body() -> bytes:
        calls.append(1)
        return b'{"rows": [1, 2]}'

    assert cache.derived(kept, "json", body, len) == cache.derived(kept, "json", body, len) == b'{"rows": [1, 2]}'
    assert len(calls) == 1  # built once while the result is cached
    cache.derived(other, "json", body, len)
    cache.derived(other, "json", body, len)
    assert len(calls) == 3  # a result that is not cached: nothing kept beside it
    assert cache.stats().bytes <= cache.max_bytes


def test_sql_that_changes_by_itself_is_not_cached(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    cache = ResultCache(1 << 20)
    wh.execute("create table t as select 1 as x")
    execute_cached(wh, "select x, random() as r from t", cache)
    execute_cached(wh, "select x, current_timestamp as now from t", cache)
    assert cache.stats().entries == 0
    execute_cached(wh, "select x from t", cache)
    assert cache.stats().entries == 1
    wh.close()


@pytest.mark.parametrize("through", ["view", "table function"])
def test_data_read_from_files_is_not_cached(tmp_path: Path, through: str) -> None:
    """A DuckDB file whose view (or whose SQL) reads a Parquet file: rewriting the file leaves the
    database untouched, so a cached answer would go stale — the new numbers must show."""
    import pyarrow.parquet as pq

    data = tmp_path / "sales.parquet"
    pq.write_table(pa.table({"amount": [1, 2]}), data)
    wh = DuckDBWarehouse(tmp_path / "wh.duckdb")
    cache = ResultCache(1 << 20)
    if through == "view":
        wh.execute(f"create view sales as select * from read_parquet('{data}')")
        sql = "select sum(amount) as s from sales"
    else:
        sql = f"select sum(amount) as s from '{data}'"
    assert execute_cached(wh, sql, cache).to_pylist() == [{"s": 3}]
    pq.write_table(pa.table({"amount": [1, 2, 40]}), data)
    assert execute_cached(wh, sql, cache).to_pylist() == [{"s": 43}]
    assert cache.stats().entries == 0
    wh.execute("create table local as select 7 as x")  # a table it holds itself is still cached
    if through == "view":
        wh.execute("drop view sales")
    assert execute_cached(wh, "select sum(x) as s from local", cache).to_pylist() == [{"s": 7}]
    assert cache.stats().entries == 1
    wh.close()
