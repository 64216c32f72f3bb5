"""Query: run a MetricQuery as the caller (permissions and row policies in the compiler)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import math
from typing import Any

from fastapi import APIRouter, Depends, Response

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.schemas.query import CompileResponse, QueryColumn, QueryResponse
from metricloop.engine.cache import result_cache
from metricloop.engine.query import MetricQuery
from metricloop.service import MetricLoop

router = APIRouter(prefix="/api/v1", tags=["query"], responses=ERROR_RESPONSES)


def cell(value: Any) -> Any:
    """A warehouse value as JSON: ISO times, floats for decimals, null for NaN/inf."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@router.post("/query", response_model=QueryResponse)
def run_query(query: MetricQuery, principal: Principal = Depends(require(Action.query)),
              ml: MetricLoop = Depends(get_ml)) -> Response:
    """Metrics × dimensions × time; compiled to SQL and run in the warehouse. Audited."""
    result = ml.access.query(principal, query)

    def body() -> bytes:
        rows = [{k: cell(v) for k, v in row.items()} for row in result.rows()]
        return QueryResponse(columns=[QueryColumn(**vars(c)) for c in result.columns], rows=rows,
                             row_count=len(rows), sql=result.sql).model_dump_json().encode()

    # a cached result's JSON is built once (engine.cache); the SQL is in it, so it is the same for
    # every caller whose row policies compile to the same SQL
    return Response(result_cache().derived(result.table, "api.query.json", body, len),
                    media_type="application/json")


@router.post("/query/sql", response_model=CompileResponse)
def compile_query(query: MetricQuery, principal: Principal = Depends(require(Action.query)),
                  ml: MetricLoop = Depends(get_ml)) -> CompileResponse:
    """The SQL a query would run (with the caller's row filters), without running it."""
    compiled = ml.compile(query)
    return CompileResponse(columns=[QueryColumn(**vars(c)) for c in compiled.columns], sql=compiled.sql,
                           dialect=compiled.dialect)


@router.post("/query/csv", response_class=Response,
             responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                              "description": "The rows as CSV (UTF-8 with BOM, opens in Excel)."}})
def export_query(query: MetricQuery, principal: Principal = Depends(require(Action.export)),
                 ml: MetricLoop = Depends(get_ml)) -> Response:
    """Export a query's rows as CSV (same permissions and row policies as the query)."""
    result = ml.access.query(principal, query, action=Action.export)
    buf = io.StringIO()
    names = [c.name for c in result.columns]
    writer = csv.writer(buf)
    writer.writerow(names)
    for row in result.rows():
        writer.writerow(["" if cell(row[n]) is None else cell(row[n]) for n in names])
    return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="metricloop-export.csv"'})
