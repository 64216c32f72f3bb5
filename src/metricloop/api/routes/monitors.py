"""Monitors: list, read, validate, save as a revision, delete; backtest preview of an unsaved spec.

Monitors on metrics the caller may not read are left out (404). A backtest runs its queries as
the caller, so row policies apply to the preview like to any query.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response

from metricloop.access.policy import Principal, readable
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, reader_locale, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.pagination import Page, PageParams, page_params, paginate
from metricloop.api.schemas.monitors import (
    BacktestRequest,
    BacktestResponse,
    MonitorDefinitionBody,
    MonitorDetail,
    MonitorSummary,
    SaveMonitorRequest,
    ValidationResult,
)
from metricloop.detect.monitors import MonitorDef, definition
from metricloop.errors import ConfigError, NotFoundError
from metricloop.service import MetricLoop
from metricloop.views.monitors import default_window
from metricloop.workflow.bands import bounded_backtest, metric_bounds

router = APIRouter(prefix="/api/v1", tags=["monitors"], responses=ERROR_RESPONSES)
MonitorName = Path(min_length=1, max_length=128, description="Monitor name, e.g. gmv_by_channel.")


def _visible(ml: MetricLoop, principal: Principal, m: MonitorDef) -> bool:
    return readable(ml.catalog, principal, m.spec.metric)


def _monitor(ml: MetricLoop, principal: Principal, name: str) -> MonitorDef:
    m = ml.detection.monitor(name)
    if not _visible(ml, principal, m):
        raise NotFoundError(f"unknown monitor '{name}'", zh=f"未知监控 '{name}'")
    return m


def _detail(ml: MetricLoop, m: MonitorDef) -> MonitorDetail:
    return MonitorDetail.full(m, ml.detection.monitor_history(m.name), ml.detection.precision(m.name))


@router.get("/monitors", response_model=Page[MonitorSummary])
def list_monitors(metric: str | None = None, page: PageParams = Depends(page_params),
                  principal: Principal = Depends(require(Action.catalog_read)),
                  ml: MetricLoop = Depends(get_ml)) -> Page[MonitorSummary]:
    """Every monitor: files in monitors/ and those written through the API."""
    items = [m for m in ml.detection.monitors() if _visible(ml, principal, m)
             and (metric is None or m.spec.metric == metric)]
    return paginate(items, page, MonitorSummary.of)


@router.get("/monitors/{name}", response_model=MonitorDetail)
def get_monitor(name: str = MonitorName, principal: Principal = Depends(require(Action.catalog_read)),
                ml: MetricLoop = Depends(get_ml)) -> MonitorDetail:
    """The definition, its revisions and its precision from feedback labels."""
    return _detail(ml, _monitor(ml, principal, name))


@router.post("/monitors/validate", response_model=ValidationResult)
def validate_monitor(body: MonitorDefinitionBody, principal: Principal = Depends(require(Action.monitor_write)),
                     ml: MetricLoop = Depends(get_ml)) -> ValidationResult:
    """Check a definition exactly as files are checked; 422 lists every problem (field and reason)."""
    spec = ml.detection.validate(body.definition)
    ml.access.require_metric(principal, spec.metric)
    return ValidationResult(valid=True, name=spec.name, definition=definition(spec))


@router.put("/monitors/{name}", response_model=MonitorDetail)
def save_monitor(body: SaveMonitorRequest, name: str = MonitorName,
                 principal: Principal = Depends(require(Action.monitor_write)),
                 ml: MetricLoop = Depends(get_ml)) -> MonitorDetail:
    """Create or change a monitor; stored as a new revision. Monitors defined in files answer 409."""
    spec = ml.detection.validate(body.definition)
    if spec.name != name:
        raise ConfigError(f"definition.name '{spec.name}' differs from the URL's '{name}'",
                          zh=f"definition.name '{spec.name}' 与 URL 中的 '{name}' 不一致")
    ml.access.require_metric(principal, spec.metric)
    saved = ml.detection.save_monitor(spec, author=principal.username, reason=body.reason)
    ml.access.audit(principal.username, "monitor.save", name, reason=body.reason)
    return _detail(ml, ml.detection.monitor(saved.name))


@router.delete("/monitors/{name}", status_code=204, response_class=Response)
def delete_monitor(name: str = MonitorName, principal: Principal = Depends(require(Action.monitor_write)),
                   ml: MetricLoop = Depends(get_ml)) -> Response:
    """Remove a monitor written through the API (its open anomalies become stale)."""
    _monitor(ml, principal, name)
    ml.detection.delete_monitor(name, author=principal.username)
    ml.access.audit(principal.username, "monitor.delete", name)
    return Response(status_code=204)


@router.post("/monitors/backtest", response_model=BacktestResponse)
def backtest(body: BacktestRequest, request: Request, principal: Principal = Depends(require(Action.monitor_write)),
             ml: MetricLoop = Depends(get_ml)) -> BacktestResponse:
    """What a monitor would have fired over a past window (nothing is stored): the series, the
    expected band and the anomalies, ready for a chart. Send an unsaved ``definition`` to preview
    an edit before saving it, or the name of a saved ``monitor``."""
    if (body.definition is None) == (body.monitor is None):
        raise ConfigError("give exactly one of 'definition' (an unsaved monitor) or 'monitor' (a saved one's name)",
                          zh="请二选一：'definition'（未保存的监控定义）或 'monitor'（已保存监控的名称）")
    target: Any
    if body.monitor is not None:
        spec = _monitor(ml, principal, body.monitor).spec
        target = body.monitor
    else:
        assert body.definition is not None
        spec = ml.detection.validate(body.definition)
        target = spec
    ml.access.require_metric(principal, spec.metric)
    start, end = default_window(ml, spec)
    start, end = body.start or start, body.end or end
    out = ml.detection.backtest(target, start, end, max_series=body.max_series,
                                locale=reader_locale(request, principal))
    out = bounded_backtest(out, metric_bounds(ml, spec.metric))  # a rate's band within 0–100 %
    for key in ("start", "end", "data_until"):  # project wall clock → aware times in the API
        if isinstance(out.get(key), dt.datetime) and out[key].tzinfo is None:
            out[key] = out[key].replace(tzinfo=ml.project.tz)
    return BacktestResponse.model_validate(out)
