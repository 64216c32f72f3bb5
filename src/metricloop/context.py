"""What the stages share, and nothing more: one object per project below every stage.

A stage service (``detect``, ``explain``, ``workflow`` …) is built from a :class:`Context`
plus the other stages it asks, each named in its constructor — never from the ``MetricLoop``
facade, which composes the stages and is imported by nothing below it. So a stage can be read,
tested and replaced on its own, and imports run one way.

The context owns the heavy resources, each opened lazily and once: the state store, the
warehouse connections, the compiled catalog (from its cache) and a compiler per SQL dialect.
Secrets in ``metricloop.yaml`` (``${ENV}``) are resolved here when a warehouse opens.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from metricloop.catalog.catalog import Catalog, leaf_models
from metricloop.engine.cache import execute_cached, peek
from metricloop.engine.compiler import CompiledQuery, Compiler, OutputColumn
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse, SQLAlchemyWarehouse, Warehouse
from metricloop.errors import ConfigError, QueryError
from metricloop.project import Project
from metricloop.secrets import resolve_env

if TYPE_CHECKING:
    # a read-only query needs none of these (SQLAlchemy, Alembic, pyarrow): imported where used
    import pyarrow as pa

    from metricloop.catalog import revisions
    from metricloop.store import Store

RowPolicy = Callable[[Catalog, MetricQuery], tuple[str, ...]]
"""Row filters a query must carry for whoever is acting now (raises when they may not read it).
The facade installs access's (``access.context`` + ``access.policy``); the context sits below
access and cannot import it."""


@dataclass
class QueryResult:
    """Rows of a metric query (Arrow) with the SQL that produced them."""

    compiled: CompiledQuery
    table: pa.Table

    @property
    def sql(self) -> str:
        return self.compiled.sql

    @property
    def columns(self) -> list[OutputColumn]:
        return self.compiled.columns

    def rows(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()

    def to_pandas(self) -> Any:
        return self.table.to_pandas()


class Context:
    """Project settings, catalog, state store, warehouses and the query path of one project."""

    def __init__(self, project: Project, *, row_policy: RowPolicy | None = None) -> None:
        self.project = project
        self.row_policy = row_policy
        self._lock = threading.RLock()
        self._catalog: Catalog | None = None
        self._warehouses: dict[str, Warehouse] = {}
        self._compilers: dict[str, Compiler] = {}

    # ------------------------------------------------------------------ settings and clock
    @property
    def tz(self) -> dt.tzinfo:
        """The project's time zone: stored times are UTC, people and windows see this one."""
        return self.project.tz

    def now(self) -> dt.datetime:
        """Project-local wall time, naive (how windows and check results are recorded)."""
        return dt.datetime.now(self.project.tz).replace(tzinfo=None)

    # ------------------------------------------------------------------ state store
    @cached_property
    def store(self) -> Store:
        from metricloop.store import Store

        return Store(self.project.state_url())

    # ------------------------------------------------------------------ warehouses
    def warehouse(self, name: str | None = None) -> Warehouse:
        key = name or "default"
        with self._lock:
            if key not in self._warehouses:
                cfg = self.project.warehouse(name)
                if cfg.type == "duckdb":
                    self._warehouses[key] = DuckDBWarehouse(self.project.duckdb_path(cfg))
                elif cfg.type in ("postgres", "mysql"):
                    assert cfg.url is not None
                    self._warehouses[key] = SQLAlchemyWarehouse(resolve_env(cfg.url, field="warehouse.url"))
                else:  # clickhouse, spark
                    from metricloop.engine.warehouse import open_warehouse

                    assert cfg.url is not None
                    self._warehouses[key] = open_warehouse(cfg.type, resolve_env(cfg.url, field="warehouse.url"))
            return self._warehouses[key]

    def duckdb(self) -> DuckDBWarehouse:
        wh = self.warehouse()
        if not isinstance(wh, DuckDBWarehouse):
            raise ConfigError("loading files needs the embedded DuckDB warehouse (warehouse.type: duckdb)")
        return wh

    def close(self) -> None:
        with self._lock:
            for wh in self._warehouses.values():
                wh.close()
            self._warehouses.clear()
            if "store" in self.__dict__:
                self.store.dispose()
                del self.__dict__["store"]

    # ------------------------------------------------------------------ catalog
    @property
    def catalog(self) -> Catalog:
        with self._lock:
            if self._catalog is None:
                from metricloop.catalog.cache import CACHE_DIR, load_cached_catalog
                from metricloop.project import STATE_DIR

                # not project.state_dir: that creates the folder, and a read-only project still reads
                self._catalog = load_cached_catalog(self.project.root, self.project.root / STATE_DIR / CACHE_DIR)
            return self._catalog

    def reload(self) -> Catalog:
        with self._lock:
            self._catalog = None
            self._compilers.clear()
            return self.catalog

    def sync_catalog(self, *, author: str | None = None, reason: str | None = None) -> list[revisions.Change]:
        """Record revisions for every changed definition (idempotent)."""
        from metricloop.catalog import revisions

        catalog = self.catalog
        with self.store.session() as s:
            return revisions.sync(s, catalog, author=author, reason=reason)

    # ------------------------------------------------------------------ query engine
    def compiler(self, dialect: str) -> Compiler:
        with self._lock:
            if dialect not in self._compilers:
                self._compilers[dialect] = Compiler(self.catalog, dialect)
            return self._compilers[dialect]

    def _warehouse_for(self, query: MetricQuery) -> tuple[str | None, Warehouse]:
        names = set()
        for metric_name in query.metrics:
            for model in leaf_models(self.catalog, self.catalog.metric(metric_name)):
                names.add(model.warehouse or "default")
        if len(names) > 1:
            raise QueryError(
                f"the metrics live in different warehouses ({', '.join(sorted(names))}); query them separately",
                zh="所选指标位于不同的数据仓库，请分开查询",
            )
        name = next(iter(names), None)
        return name, self.warehouse(name)

    def _policy_filters(self, query: MetricQuery, policy_filters: tuple[str, ...]) -> tuple[str, ...]:
        """Add the acting user's row filters (the installed :data:`RowPolicy`)."""
        if self.row_policy is None:
            return policy_filters
        return (*policy_filters, *self.row_policy(self.catalog, query))

    def compile(self, query: MetricQuery, *, policy_filters: tuple[str, ...] = ()) -> CompiledQuery:
        _, wh = self._warehouse_for(query)
        policy_filters = self._policy_filters(query, policy_filters)
        return self.compiler(wh.dialect).compile(query, policy_filters=policy_filters)

    def query(self, query: MetricQuery, *, policy_filters: tuple[str, ...] = ()) -> QueryResult:
        """Compile and run ``query`` in its warehouse; only aggregates come back.

        Inside ``access.context.acting_as(user)`` the user's metric permissions and row
        policies apply here, in the compiler, whoever the caller is.
        """
        _, wh = self._warehouse_for(query)
        policy_filters = self._policy_filters(query, policy_filters)
        compiled = self.compiler(wh.dialect).compile(query, policy_filters=policy_filters)
        return QueryResult(compiled, execute_cached(wh, compiled.sql))  # the result cache (engine.cache)

    def query_rows(
        self, query: MetricQuery, *, policy_filters: tuple[str, ...] = ()
    ) -> tuple[CompiledQuery, list[dict[str, Any]]]:
        """:meth:`query` as plain rows; on DuckDB fetched without Arrow, so a one-shot CLI read
        does not pay for importing pyarrow and numpy."""
        _, wh = self._warehouse_for(query)
        policy_filters = self._policy_filters(query, policy_filters)
        compiled = self.compiler(wh.dialect).compile(query, policy_filters=policy_filters)
        if (cached := peek(wh, compiled.sql)) is not None:  # in a long-running process (serve)
            return compiled, cached.to_pylist()
        if isinstance(wh, DuckDBWarehouse):
            names, tuples = wh.rows(compiled.sql)
            return compiled, [dict(zip(names, t, strict=True)) for t in tuples]
        return compiled, execute_cached(wh, compiled.sql).to_pylist()

    def query_sets(
        self, query: MetricQuery, sets: Sequence[Sequence[str]], *, native: bool | None = None
    ) -> list[pa.Table]:
        """``query`` grouped by each of ``sets`` in one statement, one table per set: GROUPING
        SETS where the dialect has them, else UNION ALL (``engine.grouping``); the acting user's
        row policies apply as in :meth:`query`."""
        from metricloop.engine.grouping import run_sets

        _, wh = self._warehouse_for(query)
        policy_filters = self._policy_filters(query, ())
        return run_sets(self.compiler(wh.dialect), lambda sql: execute_cached(wh, sql), query, sets,
                        policy_filters=policy_filters, native=native)

    # ------------------------------------------------------------------ loaded data
    def freshness(self, table: str) -> dt.datetime | None:
        """The newest event time loaded into ``table`` (project-local, naive), or None."""
        from sqlalchemy import desc, select

        from metricloop.store.models import IngestLoad

        with self.store.session() as s:
            t = s.scalars(
                select(IngestLoad.max_event_time)
                .where(IngestLoad.table_name == table, IngestLoad.max_event_time.is_not(None))
                .order_by(desc(IngestLoad.id))
                .limit(1)
            ).first()
        return t.astimezone(self.project.tz).replace(tzinfo=None) if t else None
