"""Anomalies: the alerts inbox (filters, newest first), one anomaly, feedback labels.

Stored anomalies do not pass through the query compiler, so the list is filtered by the
caller's row scope here (``views.scope``); an anomaly outside it answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, reader_locale, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.pagination import Page, PageParams, page_params, paginate
from metricloop.api.schemas.anomalies import AnomalyDetail, AnomalyOut, FeedbackRequest, LabelOut, local_time
from metricloop.detect.service import AnomalyRecord
from metricloop.service import MetricLoop
from metricloop.views import anomalies, scope
from metricloop.workflow.bands import metric_bounds
from metricloop.workflow.service import incident_ref

router = APIRouter(prefix="/api/v1", tags=["anomalies"], responses=ERROR_RESPONSES)
Fingerprint = Path(min_length=6, max_length=64, description="Fingerprint, or a unique prefix of 6+ characters.")
SCAN = 5000  # newest anomalies scanned per listing (the inbox is about recent events)
State = Literal["active", "suppressed", "retracted", "stale", "all"]
Label = Literal["confirmed", "expected", "false_alarm", "new_normal", "none"]


def out(ml: MetricLoop, a: AnomalyRecord, locale: str) -> AnomalyOut:
    return AnomalyOut.of(a, ml.project.tz, locale, scope.metric_label(ml, a.metric, locale),
                         metric_bounds(ml, a.metric))


@router.get("/anomalies", response_model=Page[AnomalyOut])
def list_anomalies(
    request: Request,
    monitor: str | None = Query(None, max_length=128),
    metric: str | None = Query(None, max_length=128),
    state: State = Query("active", description="active (default), suppressed, retracted, stale, or all."),
    severity: Literal["warning", "critical"] | None = Query(None),
    label: Label | None = Query(None, description="Only anomalies with this feedback label (none: unlabelled)."),
    since: dt.datetime | None = Query(None, description="Only events that end at or after this time."),
    until: dt.datetime | None = Query(None, description="Only events that start at or before this time."),
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(require(Action.incident_read)),
    ml: MetricLoop = Depends(get_ml),
) -> Page[AnomalyOut]:
    """The alerts inbox: anomalies newest first, only those in the caller's data scope."""
    rows = ml.detection.anomalies(monitor=monitor, metric=metric, state=None if state == "all" else state,
                                  since=since, until=until, label=label if label not in (None, "none") else None,
                                  limit=SCAN)
    rows = [a for a in rows if scope.sees(ml, principal, a.metric, a.slice)
            and (severity is None or a.severity == severity) and (label != "none" or a.label is None)]
    locale = reader_locale(request, principal)
    return paginate(rows, page, lambda a: out(ml, a, locale))


@router.get("/anomalies/{fingerprint}", response_model=AnomalyDetail)
def get_anomaly(request: Request, fingerprint: str = Fingerprint,
                principal: Principal = Depends(require(Action.incident_read)),
                ml: MetricLoop = Depends(get_ml)) -> AnomalyDetail:
    """One anomaly with its feedback labels, its stored explanation and its incident."""
    a = scope.anomaly(ml, principal, fingerprint)
    expl, inc = anomalies.explanation_id(ml, a.fingerprint), anomalies.incident_number(ml, a.fingerprint)
    labels = [LabelOut(**{**lab, "created_at": local_time(lab["created_at"], ml.project.tz)})
              for lab in ml.detection.labels(a.fingerprint)]
    base = out(ml, a, reader_locale(request, principal))
    return AnomalyDetail(**base.model_dump(), labels=labels, explanation_id=expl,
                         incident=incident_ref(inc) if inc else None)


@router.post("/anomalies/{fingerprint}/feedback", response_model=AnomalyOut)
def label_anomaly(body: FeedbackRequest, request: Request, fingerprint: str = Fingerprint,
                  principal: Principal = Depends(require(Action.anomaly_label)),
                  ml: MetricLoop = Depends(get_ml)) -> AnomalyOut:
    """Give feedback; the monitor's next evaluation uses it (masking, baseline reset, precision)."""
    a = scope.anomaly(ml, principal, fingerprint)
    labelled = ml.detection.label(a.fingerprint, body.label, note=body.note, author=principal.username)
    ml.access.audit(principal.username, "anomaly.label", a.fingerprint, label=body.label)
    return out(ml, labelled, reader_locale(request, principal))
