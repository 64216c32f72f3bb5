"""The assistant (智能问数): a question in Chinese or English, answered as the caller.

The answer is the same JSON as ``metricloop ask --format json``. Metric queries run through the
compiler with the caller's metric permissions and row policies; explanations need the explain
permission, incidents and cases the incident-read permission and show only what the caller sees.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.service import MetricLoop

router = APIRouter(prefix="/api/v1", tags=["assistant"], responses=ERROR_RESPONSES)


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=500, description="The question, e.g. 上周华东的GMV为什么下降了？")
    now: dt.datetime | None = Field(default=None, description="Take 'today' as this time (default: the data's newest).")


class Interpretation(BaseModel):
    metrics: list[str]
    by: list[str]
    where: str | None
    start: str | None
    end: str | None
    grain: str | None
    compare: str | None
    order: str | None
    limit: int | None


class AskAnswer(BaseModel):
    """What the assistant understood (``interpretation``, ``text``) and the answer (``rows``, ``chart``);
    ``clarify`` lists the choices when the question is ambiguous (then there are no rows)."""

    intent: str
    interpretation: Interpretation
    text: dict[str, str] = Field(description="The interpretation and the answer, in zh-CN and en.")
    rows: list[dict[str, Any]]
    chart: dict[str, Any] = Field(description="An ECharts option, or {'type': 'number', ...} for one value.")
    clarify: list[dict[str, Any]]
    sql: str | None = Field(description="The compiled query (with the caller's row filters).")
    suggestions: list[dict[str, str]]
    source: str = Field(description="offline, or llm when the optional model resolved the question.")
    unknown: list[str] = Field(description="Words of the question that were not understood (shown, never dropped).")


@router.post("/ask", response_model=AskAnswer)
def ask(body: AskBody, principal: Principal = Depends(require(Action.query)),
        ml: MetricLoop = Depends(get_ml)) -> AskAnswer:
    """Ask a question about the metrics; answered through the catalog, the compiler and the services."""

    answer = ml.assistant.ask_as(body.question, principal, now=body.now)
    return AskAnswer.model_validate(answer.to_dict())
