"""Ingest: load history, rejected rows, table checks; start a load or a check run."""

from __future__ import annotations

import json
from pathlib import Path as FsPath

from fastapi import APIRouter, Depends, Path, Query

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.pagination import Page, PageParams, page_of, page_params
from metricloop.api.schemas.ingest import CheckOut, LoadOut, LoadRequest, LoadResponse, RejectOut
from metricloop.errors import IngestError, PermissionDenied
from metricloop.secrets import redact
from metricloop.service import MetricLoop

router = APIRouter(prefix="/api/v1", tags=["ingest"], responses=ERROR_RESPONSES)
Table = Query(None, max_length=256, description="Only this table.")


def _load_out(r: object) -> LoadOut:
    return LoadOut(id=r.id, table=r.table_name, source=r.source, mode=r.mode, status=r.status,  # type: ignore[attr-defined]
                   rows_loaded=r.rows_loaded, rows_rejected=r.rows_rejected,  # type: ignore[attr-defined]
                   time_column=r.time_column, max_event_time=r.max_event_time, error=r.error,  # type: ignore[attr-defined]
                   started_at=r.started_at, finished_at=r.finished_at,  # type: ignore[attr-defined]
                   types=_types(r.types), types_from=r.types_from,  # type: ignore[attr-defined]
                   notes=r.notes.splitlines() if r.notes else [])  # type: ignore[attr-defined]


def _types(text: str | None) -> dict[str, str] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:  # a record written by a build that cut the JSON short
        return None
    return value if isinstance(value, dict) else None


def _all_rows(principal: Principal) -> None:
    """Raw rows (rejects) bypass the query compiler, so only users without row policies see them."""
    if not principal.unrestricted_rows:
        raise PermissionDenied("rejected rows are raw data; users with a row policy cannot read them",
                               zh="被拒绝的行是原始数据，受行级策略限制的用户不能查看")


@router.get("/loads", response_model=Page[LoadOut])
def list_loads(table: str | None = Table, page: PageParams = Depends(page_params),
               principal: Principal = Depends(require(Action.ingest_read)),
               ml: MetricLoop = Depends(get_ml)) -> Page[LoadOut]:
    """Loads, newest first: rows loaded and rejected, newest event time (freshness)."""
    rows = ml.loads(table, limit=page.offset + page.limit + 1)[page.offset:]
    return page_of([_load_out(r) for r in rows], page, None, fetched_extra=True)


@router.get("/loads/{load_id}/rejects", response_model=Page[RejectOut])
def load_rejects(load_id: int = Path(ge=1, le=2**62), page: PageParams = Depends(page_params),
                 principal: Principal = Depends(require(Action.ingest_run)),
                 ml: MetricLoop = Depends(get_ml)) -> Page[RejectOut]:
    """Rows of one load that could not be loaded: file, line, column, reason."""
    _all_rows(principal)
    rows = ml.rejects(load_id, limit=page.offset + page.limit + 1)[page.offset:]
    return page_of([RejectOut(file=r.file, line=r.line, column=r.column, reason=r.reason, raw=r.raw) for r in rows],
                   page, None, fetched_extra=True)


@router.post("/loads", response_model=LoadResponse)
def start_load(body: LoadRequest, principal: Principal = Depends(require(Action.ingest_run)),
               ml: MetricLoop = Depends(get_ml)) -> LoadResponse:
    """Load a file inside the project folder, or an http(s) JSON URL, into the warehouse."""
    _all_rows(principal)
    source = body.source
    if any(ord(c) < 32 for c in source):
        raise IngestError("source: control characters are not allowed", zh="source：不允许控制字符")
    if not source.startswith(("http://", "https://")):
        root = ml.project.root.resolve()
        path = (root / source).resolve()
        if not path.is_relative_to(root) or any(p.startswith(".") for p in path.relative_to(root).parts):
            raise PermissionDenied("files must be inside the project folder and not hidden (no '.' folders)",
                                   zh="文件必须位于项目目录内，且不在隐藏目录中")
        source = str(FsPath(path))
    result, checks = ml.ingest(source, body.table, mode=body.mode, schema=body.schema_,  # type: ignore[arg-type]
                               time_column=body.time_column, records_path=body.records_path,
                               add_columns=body.add_columns,
                               allow_private_urls=ml.project.config.ingest.allow_private_urls)
    shown = redact(body.source)  # a URL may carry a token: never echoed, never audited in clear
    ml.access.audit(principal.username, "ingest.load", body.table, source=shown, status=result.status,
                    rows_loaded=result.rows_loaded, rows_rejected=result.rows_rejected)
    return LoadResponse(table=result.table, source=shown, status=result.status,
                        rows_loaded=result.rows_loaded, rows_rejected=result.rows_rejected,
                        max_event_time=result.max_event_time, types=result.types,
                        types_from=result.types_from, notes=result.notes,
                        rejects=[RejectOut(**vars(r)) for r in result.rejects[:1000]],
                        checks=[CheckOut(**vars(c)) for c in checks])


@router.get("/checks", response_model=Page[CheckOut])
def list_checks(table: str | None = Table, page: PageParams = Depends(page_params),
                principal: Principal = Depends(require(Action.ingest_read)),
                ml: MetricLoop = Depends(get_ml)) -> Page[CheckOut]:
    """Stored data-quality check results, newest first."""
    rows = ml.check_results(table, limit=page.offset + page.limit + 1)[page.offset:]
    items = [CheckOut(table=r.table_name, check=r.check, status=r.status, observed=r.observed, threshold=r.threshold,
                      detail=r.detail, checked_at=r.checked_at) for r in rows]
    return page_of(items, page, None, fetched_extra=True)


@router.post("/checks/run", response_model=list[CheckOut])
def run_checks(table: str | None = Table, principal: Principal = Depends(require(Action.ingest_run)),
               ml: MetricLoop = Depends(get_ml)) -> list[CheckOut]:
    """Run the configured checks now (freshness SLA, row drop, null rate, duplicate keys)."""
    results = ml.run_checks(table)
    ml.access.audit(principal.username, "checks.run", table or "*", failed=sum(r.status != "pass" for r in results))
    return [CheckOut(**vars(r)) for r in results]
