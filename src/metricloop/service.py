"""The service facade: one object per project that every door (CLI, API, UI, scheduler) calls.

Doors parse input and render output; all behaviour lives here and in the domain packages.
The heavy resources (state store, warehouse connections, compiled catalog) are the project's
:class:`~metricloop.context.Context`, opened lazily, once; the facade composes the stages over
it and is imported by nothing below it.
"""

from __future__ import annotations

import datetime as dt
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metricloop.catalog.catalog import Catalog, available_dimensions, leaf_models
from metricloop.context import Context, QueryResult
from metricloop.engine.compiler import CompiledQuery, Compiler
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse, Warehouse
from metricloop.project import Project

__all__ = ["MetricLoop", "QueryResult"]

if TYPE_CHECKING:
    # a read-only query needs none of these (SQLAlchemy, Alembic, pyarrow): imported where used
    from metricloop.catalog import revisions
    from metricloop.catalog.models import Metric
    from metricloop.ingest import checks as table_checks
    from metricloop.ingest.loader import LoadResult, Mode, Progress
    from metricloop.store import Store
    from metricloop.store.models import IngestLoad, IngestReject, TableCheck

if TYPE_CHECKING:  # stage services, each in its own package, reached as ml.<stage>
    from metricloop.access.service import AccessService
    from metricloop.assistant.service import AssistantService
    from metricloop.detect.service import DetectionService
    from metricloop.explain.service import ExplainService
    from metricloop.interop.service import InteropService
    from metricloop.review.service import ReviewService
    from metricloop.workflow.service import WorkflowService


class MetricLoop:
    """Everything a user can do with one project."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.ctx = Context(project, row_policy=_acting_user_filters)
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str | Path | None = None) -> MetricLoop:
        return cls(Project.load(path))

    # ------------------------------------------------------------------ stage services
    # Each stage keeps its use cases in ``<stage>/service.py`` and is built here, once, from the
    # shared Context plus the stages it asks, named; doors only ever talk to ``ml``.
    @cached_property
    def detection(self) -> DetectionService:
        from metricloop.detect.service import DetectionService

        return DetectionService(self.ctx)

    @cached_property
    def explain(self) -> ExplainService:
        from metricloop.explain.service import ExplainService

        return ExplainService(self.ctx)

    @cached_property
    def workflow(self) -> WorkflowService:
        from metricloop.workflow.service import WorkflowService

        return WorkflowService(self.ctx)

    @cached_property
    def review(self) -> ReviewService:
        from metricloop.review.service import ReviewService

        return ReviewService(self.ctx, self.workflow, user_name=lambda who: self.access.user(who).display_name)

    @cached_property
    def access(self) -> AccessService:
        from metricloop.access.service import AccessService

        return AccessService(self.ctx)

    @cached_property
    def interop(self) -> InteropService:
        from metricloop.interop.service import InteropService

        return InteropService(self.ctx)

    @property
    def assistant(self) -> AssistantService:
        """Questions about the project, created once per ``MetricLoop`` (its vocabulary is cached)."""
        from metricloop.assistant.service import AssistantService

        found = self.__dict__.get("_assistant")
        if found is None:
            with self._lock:
                found = self.__dict__.get("_assistant")
                if found is None:
                    found = self.__dict__["_assistant"] = AssistantService(
                        self.ctx, detection=self.detection, explain=self.explain, workflow=self.workflow,
                        review=self.review, access=self.access)
        assert isinstance(found, AssistantService)
        return found

    # ------------------------------------------------------------------ resources (the context's)
    @property
    def store(self) -> Store:
        return self.ctx.store

    def warehouse(self, name: str | None = None) -> Warehouse:
        return self.ctx.warehouse(name)

    def duckdb(self) -> DuckDBWarehouse:
        return self.ctx.duckdb()

    def close(self) -> None:
        self.ctx.close()

    # ------------------------------------------------------------------ metric center
    @property
    def catalog(self) -> Catalog:
        return self.ctx.catalog

    def reload(self) -> Catalog:
        return self.ctx.reload()

    def validate(self) -> Catalog:
        """Load and cross-check every definition (raises DefinitionError with all issues)."""
        return self.reload()

    def sync_catalog(self, *, author: str | None = None, reason: str | None = None) -> list[revisions.Change]:
        """Record revisions for every changed definition (idempotent)."""
        return self.ctx.sync_catalog(author=author, reason=reason)

    def metrics(
        self, search: str | None = None, tier: str | None = None, include_retired: bool = False
    ) -> list[Metric]:
        items = self.catalog.search(search) if search else list(self.catalog.metrics.values())
        if tier:
            items = [m for m in items if m.tier.value == tier]
        if not include_retired:
            items = [m for m in items if m.lifecycle.value != "retired"]
        return sorted(
            items, key=lambda m: (["north_star", "primary", "secondary", "diagnostic"].index(m.tier.value), m.name)
        )

    def metric_detail(self, name: str) -> dict[str, Any]:
        """Definition, computed facts, history and tree of one metric (what ``catalog show`` prints)."""
        from metricloop.catalog import revisions, tree

        catalog = self.catalog
        metric = catalog.metric(name)
        with self.store.session() as s:
            hist = revisions.history(s, name)
        calc, meta = revisions.metric_hashes(catalog, metric)
        return {
            "name": metric.name,
            "definition": metric.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            "additivity": catalog.additivity(metric).value,
            "semantic_models": [m.name for m in leaf_models(catalog, metric)],
            "dimensions": sorted(d for d in available_dimensions(catalog, metric) if "__" not in d),
            "calc_hash": calc,
            "meta_hash": meta,
            "source": str(catalog.origins[f"metric:{name}"].location())
            if f"metric:{name}" in catalog.origins
            else None,
            "revisions": [
                {
                    "version": r.version,
                    "change": r.change,
                    "calc_hash": r.calc_hash[:12],
                    "meta_hash": r.meta_hash[:12],
                    "author": r.author,
                    "reason": r.reason,
                    "created_at": r.created_at,
                }
                for r in hist
            ],
            "tree": tree.tree(catalog, name).to_dict(),
            "parents": [e.to_dict() for e in tree.parents(catalog, name)],
        }

    # ------------------------------------------------------------------ query engine (the context's)
    def compiler(self, dialect: str) -> Compiler:
        return self.ctx.compiler(dialect)

    def compile(self, query: MetricQuery, *, policy_filters: tuple[str, ...] = ()) -> CompiledQuery:
        return self.ctx.compile(query, policy_filters=policy_filters)

    def query(self, query: MetricQuery, *, policy_filters: tuple[str, ...] = ()) -> QueryResult:
        """Compile and run ``query`` in its warehouse; only aggregates come back.

        Inside ``access.context.acting_as(user)`` the user's metric permissions and row
        policies apply here, in the compiler, whoever the caller is.
        """
        return self.ctx.query(query, policy_filters=policy_filters)

    def query_rows(
        self, query: MetricQuery, *, policy_filters: tuple[str, ...] = ()
    ) -> tuple[CompiledQuery, list[dict[str, Any]]]:
        """:meth:`query` as plain rows (on DuckDB without importing pyarrow)."""
        return self.ctx.query_rows(query, policy_filters=policy_filters)

    # ------------------------------------------------------------------ ingest
    def ingest(
        self,
        source: str,
        table: str,
        *,
        mode: Mode = "append",
        schema: dict[str, str] | None = None,
        time_column: str | None = None,
        records_path: str | None = None,
        add_columns: bool = False,
        progress: Progress | None = None,
        allow_private_urls: bool = True,
    ) -> tuple[LoadResult, list[table_checks.CheckResult]]:
        """Load a file or HTTP JSON URL into the warehouse, record it, and run the table's checks."""
        from metricloop.ingest.run import ingest

        return ingest(self.ctx, source, table, mode=mode, schema=schema, time_column=time_column,
                      records_path=records_path, add_columns=add_columns, progress=progress,
                      allow_private_urls=allow_private_urls)

    def run_checks(
        self,
        table: str | None = None,
        *,
        previous_rows: int | None = None,
        load_rows: int | None = None,
        time_column: str | None = None,
    ) -> list[table_checks.CheckResult]:
        """Run the configured checks of one table (or all) and store the results."""
        from metricloop.ingest.run import run_checks

        return run_checks(self.ctx, table, previous_rows=previous_rows, load_rows=load_rows, time_column=time_column)

    def loads(self, table: str | None = None, limit: int = 50) -> list[IngestLoad]:
        from sqlalchemy import desc, select

        from metricloop.store.models import IngestLoad

        with self.store.session() as s:
            q = select(IngestLoad).order_by(desc(IngestLoad.id)).limit(limit)
            if table:
                q = q.where(IngestLoad.table_name == table)
            return list(s.scalars(q))

    def rejects(self, load_id: int, limit: int = 1000) -> list[IngestReject]:
        from sqlalchemy import select

        from metricloop.store.models import IngestReject

        with self.store.session() as s:
            return list(
                s.scalars(
                    select(IngestReject).where(IngestReject.load_id == load_id).order_by(IngestReject.line).limit(limit)
                )
            )

    def check_results(self, table: str | None = None, limit: int = 200) -> list[TableCheck]:
        from sqlalchemy import desc, select

        from metricloop.store.models import TableCheck

        with self.store.session() as s:
            q = select(TableCheck).order_by(desc(TableCheck.id)).limit(limit)
            if table:
                q = q.where(TableCheck.table_name == table)
            return list(s.scalars(q))

    def freshness(self, table: str) -> dt.datetime | None:
        """The newest event time loaded into ``table`` (project-local, naive), or None."""
        return self.ctx.freshness(table)


def _acting_user_filters(catalog: Catalog, query: MetricQuery) -> tuple[str, ...]:
    """The context's row policy: the acting user's row filters (``access.context``); refuses
    metrics they may not read. Background work (no principal) sees everything."""
    from metricloop.access.context import current_principal
    from metricloop.access.policy import enforce

    principal = current_principal()
    if principal is None:
        return ()
    return enforce(catalog, principal, query)
