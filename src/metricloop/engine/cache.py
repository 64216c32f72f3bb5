"""Query results kept in memory, keyed by the compiled SQL and the warehouse's data version.

A semantic layer answers the same question many times between two loads (dashboards, the API's
clients, the assistant, explain's baseline windows); the warehouse is asked again only when the
SQL differs or the data changed. The key is the SQL *after* compilation, so each user's row
policies (compiled into the SQL) keep their own entries; the data version is what the adapter
can observe of a change: for a DuckDB file the size and modification time of the database file
and its write-ahead log (a load that commits changes one of them, whoever wrote it). Adapters
that cannot observe their data changing (PostgreSQL, MariaDB, ClickHouse, Spark: other writers
load them) answer no version and are never cached: a stale number is worse than a slow one.

One cache per process (the API, the web UI and the scheduler of ``metricloop serve`` share it),
bounded by the bytes of the results it holds (least recently used first out), thread-safe, and
single-flight: concurrent misses on one key run the query once.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metricloop.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

    from metricloop.engine.warehouse import Warehouse

CACHE_ENV = "METRICLOOP_RESULT_CACHE_MB"
#: SQL whose answer changes without the data changing (a model's expression may call these)
VOLATILE = re.compile(r"\b(current_date|current_timestamp|current_time|localtimestamp|now|today|random|rand|"
                      r"uuid|gen_random_uuid|generateUUIDv4)\b", re.IGNORECASE)
#: SQL that reads files rather than the database (a model's table may be ``read_parquet(...)``,
#: a view may wrap one): a rewritten file leaves the database's version as it was
EXTERNAL = re.compile(r"\b(read_\w+|\w+_scan|glob)\s*\(|'[^']*(\.(parquet|csv|tsv|json|ndjson|jsonl|arrow|"
                      r"xlsx)(\.\w+)?|://[^']*)'", re.IGNORECASE)
DEFAULT_MB = 256


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    bytes: int
    max_bytes: int


class ResultCache:
    """A least-recently-used map bounded by the summed size of its values (``max_bytes``)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._inflight: dict[Hashable, threading.Event] = {}
        self._ids: dict[int, Hashable] = {}  # id of each kept value -> its key (see derived())
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def miss_if_empty(self) -> bool:
        """True, counted as a miss, when nothing is kept: no lookup can hit, so the caller need
        not work out a key (a one-shot CLI call would ask the warehouse for its data version)."""
        with self._lock:
            if self._items:
                return False
            self.misses += 1
            return True

    def put(self, key: Hashable, value: Any, nbytes: int) -> bool:
        """Keep ``value``; a value larger than the whole budget is not kept (returns False)."""
        if nbytes > self.max_bytes:
            return False
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
                self._ids.pop(id(old[0]), None)
            self._items[key] = (value, nbytes)
            self._ids[id(value)] = key
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                _, (gone, size) = self._items.popitem(last=False)
                self._ids.pop(id(gone), None)
                self._bytes -= size
            return True

    def derived(self, value: Any, tag: str, compute: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        """``compute()``, kept beside ``value`` while ``value`` itself is kept here (the API's JSON
        body of a cached result is built once); for a value not kept, computed every time."""
        with self._lock:
            key = self._ids.get(id(value))
            entry = self._items.get(("derived", key, tag)) if key is not None else None
        if key is None:
            return compute()
        if entry is not None and entry[0][0] is value:
            with self._lock:
                self.hits += 1
            return entry[0][1]
        out = compute()
        # the entry holds ``value`` too, so its id cannot be reused while the entry lives
        self.put(("derived", key, tag), (value, out), size(out) + int(getattr(value, "nbytes", 0)))
        return out

    def get_or_compute(self, key: Hashable, compute: Callable[[], tuple[Any, int | None]]) -> Any:
        """The cached value, or ``compute()``'s (value, size; None = do not keep) computed once for
        all the threads asking for ``key`` at the same time."""
        while True:
            with self._lock:
                item = self._items.get(key)
                if item is not None:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return item[0]
                waiting = self._inflight.get(key)
                if waiting is None:
                    self.misses += 1
                    done = self._inflight[key] = threading.Event()
                    break
            waiting.wait()  # then read what it kept; if it kept nothing, the next one computes
        try:
            value, size = compute()
            if size is not None:
                self.put(key, value, size)
            return value
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            done.set()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._ids.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.hits, self.misses, len(self._items), self._bytes, self.max_bytes)


def budget_from_env() -> int:
    """Bytes allowed by ``METRICLOOP_RESULT_CACHE_MB`` (default 256; 0 turns the cache off)."""
    raw = os.environ.get(CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_MB * 1024 * 1024
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if mb < 0:
        raise ConfigError(f"{CACHE_ENV}={raw!r}: expected a number of megabytes ≥ 0 (0 turns the cache off)",
                          zh=f"{CACHE_ENV}={raw!r}：应为 ≥ 0 的兆字节数（0 表示关闭缓存）")
    return int(mb * 1024 * 1024)


_CACHE: ResultCache | None = None
_CACHE_LOCK = threading.Lock()


def result_cache() -> ResultCache:
    """The process's cache, sized from the environment on first use."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is None:
            _CACHE = ResultCache(budget_from_env())
        return _CACHE


def data_version(wh: Warehouse) -> Hashable | None:
    """What identifies the warehouse's data now, or None when the adapter cannot tell."""
    version = getattr(wh, "data_version", None)
    return version() if callable(version) else None


def _changes_unseen(sql: str) -> bool:
    """Whether the answer to ``sql`` may change while the warehouse's data version does not."""
    return bool(VOLATILE.search(sql) or EXTERNAL.search(sql))


def execute_cached(wh: Warehouse, sql: str, cache: ResultCache | None = None) -> pa.Table:
    """``wh.execute(sql)`` answered from the cache while the warehouse's data is unchanged.

    A result is kept only when the data version is the same before and after the query ran
    (a load that lands meanwhile must not file new rows under the old version, or old ones
    under the new).
    """
    cache = cache if cache is not None else result_cache()
    version = data_version(wh) if cache.max_bytes and not _changes_unseen(sql) else None
    if version is None:
        return wh.execute(sql)
    key = (version, sql)

    def run() -> tuple[pa.Table, int | None]:
        table = wh.execute(sql)
        keep = data_version(wh) == version
        return table, (table.nbytes + len(sql) if keep else None)

    result: pa.Table = cache.get_or_compute(key, run)
    return result


def peek(wh: Warehouse, sql: str, cache: ResultCache | None = None) -> pa.Table | None:
    """The cached result of ``sql`` at the warehouse's current data version, without running it."""
    cache = cache if cache is not None else result_cache()
    if not cache.max_bytes or cache.miss_if_empty():
        return None
    version = data_version(wh)
    if version is None:
        return None
    found: pa.Table | None = cache.get((version, sql))
    return found
