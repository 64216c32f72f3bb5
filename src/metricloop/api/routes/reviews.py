"""Reviews (复盘) of incidents, effect verification, the case library and similar cases.

A review belongs to one incident and is reached by the incident's id; everything here is
limited to incidents in the caller's row scope, and case-library results too (``views.scope``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.pagination import Page, PageParams, page_params, paginate
from metricloop.api.routes.incidents import Ref
from metricloop.api.schemas.reviews import (
    CaseOut,
    EditSectionRequest,
    EffectCheckOut,
    EffectOut,
    EffectSeries,
    ReviewOut,
    SectionKey,
    VerifyOut,
    VerifyRequest,
)
from metricloop.localtime import local_times
from metricloop.service import MetricLoop
from metricloop.views import scope

router = APIRouter(prefix="/api/v1", tags=["reviews"], responses=ERROR_RESPONSES)


def review_out(ml: MetricLoop, review: dict[str, Any]) -> ReviewOut:
    return ReviewOut.model_validate(local_times(review, ml.project.tz, ("created_at", "completed_at")))


@router.get("/reviews/{ref}", response_model=ReviewOut)
def get_review(ref: str = Ref, principal: Principal = Depends(require(Action.incident_read)),
               ml: MetricLoop = Depends(get_ml)) -> ReviewOut:
    """The review of an incident (404 until drafted: POST /reviews/{ref})."""
    inc = scope.incident(ml, principal, ref)
    return review_out(ml, ml.review.get(inc["id"]))


@router.post("/reviews/{ref}", response_model=ReviewOut)
def draft_review(ref: str = Ref, principal: Principal = Depends(require(Action.review_write)),
                 ml: MetricLoop = Depends(get_ml)) -> ReviewOut:
    """Create the review, or refresh its automatic sections (impact, timeline, actions); text people
    wrote is kept."""
    inc = scope.incident(ml, principal, ref)
    return review_out(ml, ml.review.draft(inc["id"], actor=principal.username))


@router.put("/reviews/{ref}/sections/{section}", response_model=ReviewOut)
def edit_section(body: EditSectionRequest, section: SectionKey, ref: str = Ref,
                 principal: Principal = Depends(require(Action.review_write)),
                 ml: MetricLoop = Depends(get_ml)) -> ReviewOut:
    """Write one section (409 once the review is completed)."""
    inc = scope.incident(ml, principal, ref)
    return review_out(ml, ml.review.edit(inc["id"], section, body.text, actor=principal.username))


@router.post("/reviews/{ref}/complete", response_model=ReviewOut)
def complete_review(ref: str = Ref, principal: Principal = Depends(require(Action.review_write)),
                    ml: MetricLoop = Depends(get_ml)) -> ReviewOut:
    """Complete the review; 409 while a required section is empty. It then enters the case library."""
    inc = scope.incident(ml, principal, ref)
    return review_out(ml, ml.review.complete(inc["id"], actor=principal.username))


@router.post("/reviews/{ref}/verify", response_model=VerifyOut)
def verify(body: VerifyRequest, ref: str = Ref, principal: Principal = Depends(require(Action.review_write)),
           ml: MetricLoop = Depends(get_ml)) -> VerifyOut:
    """Verify the fix on the data: the slice per hour vs the same hour last week after the fix took
    effect. A recovered 'verifying' incident is closed, a failed one reopened (``close``)."""
    inc = scope.incident(ml, principal, ref)
    result = ml.review.verify_from_data(inc["id"], effective_at=body.effective_at, action_id=body.action_id,
                                        actor=principal.username, close=body.close)
    return VerifyOut.model_validate(result)


@router.get("/reviews/{ref}/effect", response_model=EffectOut)
def effect(ref: str = Ref, principal: Principal = Depends(require(Action.incident_read)),
           ml: MetricLoop = Depends(get_ml)) -> EffectOut:
    """The verification chart (actual vs last week around the fix) and every check made so far."""
    inc = scope.incident(ml, principal, ref)
    tz = ml.project.tz
    checks = [EffectCheckOut(**local_times(c, tz, ("checked_at", "effective_at")))
              for c in ml.review.effects(inc["id"])]
    return EffectOut(series=EffectSeries(**ml.review.effect_series(inc["id"])), checks=checks)


def _cases(ml: MetricLoop, principal: Principal, rows: list[dict[str, Any]]) -> list[CaseOut]:
    tz = ml.project.tz
    return [CaseOut.model_validate(local_times(r, tz, ("completed_at",))) for r in rows
            if scope.sees(ml, principal, r["metric"], r.get("slice"))]


@router.get("/cases", response_model=Page[CaseOut])
def search_cases(q: str = Query("", max_length=500, description="Words in Chinese or English, e.g. 支付 失败 "
                                                                 "or payment timeout; empty: the newest cases."),
                 page: PageParams = Depends(page_params),
                 principal: Principal = Depends(require(Action.incident_read)),
                 ml: MetricLoop = Depends(get_ml)) -> Page[CaseOut]:
    """The case library: completed reviews, best match first."""
    if q.strip():
        rows = ml.review.search(q, limit=500)
    else:
        rows = [{**r, "score": 0.0} for r in ml.review.cases()]
    return paginate(_cases(ml, principal, rows), page, lambda c: c)


@router.get("/incidents/{ref}/similar", response_model=list[CaseOut])
def similar(ref: str = Ref, limit: int = Query(5, ge=1, le=50),
            principal: Principal = Depends(require(Action.incident_read)),
            ml: MetricLoop = Depends(get_ml)) -> list[CaseOut]:
    """Past cases most like this incident (same metric, slice, causes), with what was done and
    whether it worked."""
    inc = scope.incident(ml, principal, ref)
    return _cases(ml, principal, ml.review.similar(inc["id"], limit=200))[:limit]
