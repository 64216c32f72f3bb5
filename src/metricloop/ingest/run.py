"""One load from start to record: the load record never stays ``running`` and never lies.

The warehouse write and a ledger row (``metricloop_load_ledger``) commit in one DuckDB
transaction; the state-store record is finished in a ``finally``. If the process dies between
the two, the next load (or ``metricloop loads``) settles the orphan from the ledger: committed
rows are recorded as committed, anything else as ``failed`` with 0 rows, which is then true.
Everything stored (errors, reject reasons, raw lines) is redacted and bounded in length.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import desc, select

from metricloop.errors import ConfigError, IngestError, MetricLoopError
from metricloop.ingest import checks as table_checks
from metricloop.ingest.loader import (
    LEDGER,
    LoadResult,
    Mode,
    Progress,
    _check_mode,
    _check_table,
    bounded,
    fetch_json,
    load_file,
    load_records,
    records_from_json,
)
from metricloop.ingest.types import parse_schema, short
from metricloop.project import as_utc
from metricloop.secrets import redact
from metricloop.store.models import IngestLoad, IngestReject, TableCheck

if TYPE_CHECKING:
    from metricloop.context import Context

log = logging.getLogger(__name__)
_active: set[int] = set()  # load ids running in this process
_active_lock = threading.Lock()
INTERRUPTED = "interrupted before it committed: no rows were loaded"
MAX_TYPES_KEPT = 500  # columns whose type the load record keeps


def reconcile(ctx: Context) -> int:
    """Settle loads left ``running`` by a process that died; returns how many were settled.

    Only called with the warehouse open for writing: DuckDB lets one process write a file, so a
    ``running`` load that is not running here is dead. (An in-memory warehouse is per process,
    so nothing is settled there.)
    """
    wh = ctx.duckdb()
    if wh.path in (":memory:", "") or wh.read_only:
        return 0
    with _active_lock:
        active = set(_active)
    with ctx.store.session() as s:
        stale = [r for r in s.scalars(select(IngestLoad).where(IngestLoad.status == "running")) if r.id not in active]
        if not stale:
            return 0
        con = wh.connection.cursor()
        try:
            has = con.execute("select count(*) from information_schema.tables where table_name = ?",
                              [LEDGER]).fetchone()[0]
            ids = [r.id for r in stale]
            done = {
                int(r[0]): (int(r[1]), int(r[2]))
                for r in (con.execute(f"select load_id, rows_loaded, rows_rejected from {LEDGER} "
                                      f"where load_id in ({', '.join('?' * len(ids))})", ids).fetchall()
                          if has else [])
            }
        finally:
            con.close()
        now = dt.datetime.now(dt.UTC)
        for row in stale:
            if row.id in done:
                row.rows_loaded, row.rows_rejected = done[row.id]
                row.status = "failed" if row.rows_rejected and not row.rows_loaded else (
                    "partial" if row.rows_rejected else "ok")
                row.error = "committed, but the process stopped before recording it (reject details are lost)"
            else:
                row.status, row.rows_loaded, row.rows_rejected, row.error = "failed", 0, 0, INTERRUPTED
            row.finished_at = now
    return len(stale)


def ingest(
    ctx: Context,
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
    """Load a file or HTTP JSON URL, record the load (always finished), run the table's checks.

    ``allow_private_urls=False`` (the API's default) refuses URLs that reach internal addresses."""
    _check_table(table)
    _check_mode(mode)
    parse_schema(schema)  # a malformed request is refused before anything is recorded
    wh = ctx.duckdb()
    spec = ctx.project.config.tables.get(table)
    time_column = time_column or (spec.time_column if spec else None)
    keys = tuple(spec.unique_key) if spec else ()
    reconcile(ctx)
    shown = short(redact(source), 1024)
    with ctx.store.session() as s:
        load = IngestLoad(table_name=table, source=shown, mode=mode, status="running")
        s.add(load)
        s.flush()
        load_id = load.id
    with _active_lock:
        _active.add(load_id)
    result: LoadResult | None = None
    error: str | None = INTERRUPTED
    try:
        if source.startswith(("http://", "https://")):
            records = records_from_json(fetch_json(source, allow_private=allow_private_urls), records_path, shown)
            result = load_records(wh, records, table, source=shown, mode=mode, schema=schema,
                                  time_column=time_column, key_columns=keys, add_columns=add_columns,
                                  progress=progress, load_id=load_id)
        else:
            path = Path(source)
            if not path.is_absolute() and not path.exists():
                path = ctx.project.root / source
            result = load_file(wh, path, table, mode=mode, schema=schema, time_column=time_column, key_columns=keys,
                               add_columns=add_columns, progress=progress, display_name=shown, load_id=load_id)
        error = None
    except MetricLoopError as exc:
        error = bounded(exc.message, 2000)
        raise
    except Exception as exc:
        log.error("load %s of %s failed: %s", load_id, shown, bounded(f"{type(exc).__name__}: {exc}"))
        error = bounded(f"{type(exc).__name__}: {exc}")
        raise IngestError(f"load of {short(shown, 200)} failed: {error} (nothing was loaded)",
                          zh=f"加载 {short(shown, 200)} 失败：{error}（没有写入任何行）") from None
    finally:
        _finish(ctx, load_id, result, error)
        with _active_lock:
            _active.discard(load_id)
    assert result is not None
    prev_rows = _previous_rows(ctx, table, load_id)
    results = (
        run_checks(ctx, table, previous_rows=prev_rows, load_rows=result.rows_loaded,
                   time_column=result.time_column)
        if spec
        else []
    )
    return result, results

def run_checks(
    ctx: Context,
    table: str | None = None,
    *,
    previous_rows: int | None = None,
    load_rows: int | None = None,
    time_column: str | None = None,
) -> list[table_checks.CheckResult]:
    """Run the configured checks of one table (or all) and store the results (``ml.run_checks``)."""
    specs = ctx.project.config.tables
    names = [table] if table else list(specs)
    now = ctx.now()
    out: list[table_checks.CheckResult] = []
    for name in names:
        spec = specs.get(name)
        if spec is None:
            raise ConfigError(
                f"no checks configured for table '{name}' (add it under 'tables:' in metricloop.yaml)"
            )
        obs = table_checks.observe(ctx.duckdb(), name, spec, previous_rows, time_column, load_rows)
        out += table_checks.evaluate(name, spec, obs, now)
    with ctx.store.session() as s:
        for r in out:
            s.add(
                TableCheck(
                    table_name=r.table,
                    check=r.check,
                    status=r.status,
                    observed=r.observed,
                    threshold=r.threshold,
                    detail=r.detail,
                )
            )
    return out


def _previous_rows(ctx: Context, table: str, load_id: int) -> int | None:
    with ctx.store.session() as s:
        prev = s.scalars(
            select(IngestLoad)
            .where(IngestLoad.table_name == table, IngestLoad.id < load_id, IngestLoad.status.in_(("ok", "partial")))
            .order_by(desc(IngestLoad.id))
            .limit(1)
        ).first()
        return prev.rows_loaded if prev else None


def _finish(ctx: Context, load_id: int, result: LoadResult | None, error: str | None) -> None:
    """Write the load's final state; a failure here leaves it for :func:`reconcile`, never raises over
    the load's own error."""
    try:
        with ctx.store.session() as s:
            row = s.get(IngestLoad, load_id)
            if row is None:
                return
            row.finished_at = dt.datetime.now(dt.UTC)
            if result is None:
                row.status, row.rows_loaded, row.rows_rejected = "failed", 0, 0
                row.error = redact(error or INTERRUPTED)[:2000]
                return
            row.status, row.rows_loaded, row.rows_rejected = result.status, result.rows_loaded, result.rows_rejected
            row.time_column = result.time_column
            newest = result.max_event_time  # project-local wall clock in the warehouse
            row.max_event_time = as_utc(newest, ctx.project.tz) if newest else None
            shown = {short(c, 128): t for c, t in list(result.types.items())[:MAX_TYPES_KEPT]}
            row.types = json.dumps(shown, ensure_ascii=False)  # valid JSON, bounded: 500 x (128 + type)
            row.types_from = result.types_from
            row.notes = redact("\n".join(result.notes))[:20000] or None
            for r in result.rejects:
                s.add(IngestReject(load_id=load_id, file=short(r.file, 1024), line=r.line,
                                   column=short(r.column, 256) if r.column else None,
                                   reason=bounded(r.reason, 500),
                                   raw=bounded(r.raw, 1000, first_line=False) if r.raw else None))
    except Exception as exc:  # the store is down: reconcile() settles this load from the ledger later
        log.error("cannot record the end of load %s: %s", load_id, bounded(str(exc)))
