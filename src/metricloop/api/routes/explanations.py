"""Cause analysis: explain a move now, read a stored explanation, the explanation of an anomaly.

``POST /explain`` runs its queries as the caller (row policies inside the compiler) and records
the policies it ran under; reading an explanation back is allowed to users who see all rows,
to users under the same policies, or when it explains an anomaly they see (``views.scope``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Path

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.routes.anomalies import Fingerprint
from metricloop.api.schemas.explanations import ExplainRequest, ExplanationOut
from metricloop.errors import NotFoundError
from metricloop.service import MetricLoop
from metricloop.views import scope

router = APIRouter(prefix="/api/v1", tags=["explanations"], responses=ERROR_RESPONSES)


def out(ml: MetricLoop, payload: dict[str, Any], fingerprint: str | None = None) -> ExplanationOut:
    """The stored payload with its periods as aware times (they are the project's wall clock)."""
    body = {k: v for k, v in payload.items() if k != "scope"}
    body.setdefault("anomaly_fingerprint", fingerprint)
    for key in ("period", "baseline"):
        span = dict(body.get(key) or {})
        for edge in ("start", "end"):
            t = span.get(edge)
            t = dt.datetime.fromisoformat(t) if isinstance(t, str) else t
            if isinstance(t, dt.datetime) and t.tzinfo is None:
                t = t.replace(tzinfo=ml.project.tz)
            span[edge] = t
        body[key] = span
    return ExplanationOut.model_validate(body)


@router.post("/explain", response_model=ExplanationOut)
def explain(body: ExplainRequest, principal: Principal = Depends(require(Action.explain)),
            ml: MetricLoop = Depends(get_ml)) -> ExplanationOut:
    """Why did the metric move in the period compared with its baseline: the slices that explain
    it, a drill-down per dimension and the split over the metric tree. Stored; audited."""
    ml.access.require_metric(principal, body.metric)
    result = ml.explain.explain(body.metric, at=body.at, grain=body.grain, start=body.start, end=body.end,
                                baseline=body.baseline, vs=body.vs, by=body.by, where=body.where)
    ml.access.audit(principal.username, "explain", body.metric, explanation=result.id,
                    policy_filters=list(principal.policy_filters()))
    assert result.id is not None
    return out(ml, ml.explain.get(result.id))


@router.get("/explanations/{explanation_id}", response_model=ExplanationOut)
def get_explanation(explanation_id: int = Path(ge=1, le=2**31 - 1),
                    principal: Principal = Depends(require(Action.incident_read)),
                    ml: MetricLoop = Depends(get_ml)) -> ExplanationOut:
    """A stored explanation (404 when it is about rows outside the caller's scope)."""
    return out(ml, scope.explanation(ml, principal, explanation_id))


@router.get("/anomalies/{fingerprint}/explanation", response_model=ExplanationOut)
def anomaly_explanation(fingerprint: str = Fingerprint, principal: Principal = Depends(require(Action.incident_read)),
                        ml: MetricLoop = Depends(get_ml)) -> ExplanationOut:
    """The cause analysis the loop stored for this anomaly (404 if none yet: POST .../explain)."""
    a = scope.anomaly(ml, principal, fingerprint)
    payload = ml.explain.for_anomaly(a.fingerprint)
    if payload is None:
        raise NotFoundError(f"anomaly {a.fingerprint[:12]} has no explanation yet",
                            zh=f"异常 {a.fingerprint[:12]} 还没有归因结果")
    return out(ml, payload, a.fingerprint)


@router.post("/anomalies/{fingerprint}/explain", response_model=ExplanationOut)
def explain_anomaly(fingerprint: str = Fingerprint, principal: Principal = Depends(require(Action.explain)),
                    ml: MetricLoop = Depends(get_ml)) -> ExplanationOut:
    """Explain this anomaly now (its window vs the same window last week), or return the stored one."""
    from metricloop.loop import explain_event

    a = scope.anomaly(ml, principal, fingerprint)
    payload = explain_event(ml, a)
    if payload is None:
        raise NotFoundError(f"anomaly {a.fingerprint[:12]} cannot be explained (no data for its window)",
                            zh=f"异常 {a.fingerprint[:12]} 无法归因（该时段无数据）")
    return out(ml, payload, a.fingerprint)
