"""Incidents: what people do to one (act, assign, comment, action items); the read models
(board, story) are :mod:`metricloop.views.incidents`, re-exported here for the API's schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from metricloop.localtime import Instant, local_times
from metricloop.views.incidents import (
    INCIDENT_TIMES,
    ActionItemOut,
    AlertOut,
    Board,
    BoardColumn,
    IncidentDetail,
    IncidentSummary,
    MessageOut,
    Person,
    TimelineEntry,
    TimerOut,
    is_overdue,
)
from metricloop.workflow.lifecycle import ACTIONS

__all__ = ["INCIDENT_TIMES", "ActRequest", "ActionItemOut", "AddActionRequest", "AlertOut", "AssignRequest", "Board",
           "BoardColumn", "CommentRequest", "IncidentDetail", "IncidentSummary", "MessageOut", "Person",
           "TimelineEntry", "TimerOut", "UpdateActionRequest", "is_overdue", "local_times"]

IncidentAction = Literal[ACTIONS]  # type: ignore[valid-type]
ActionStatus = Literal["open", "in_progress", "done", "cancelled"]


class ActRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: IncidentAction = Field(description="ack, investigate, mitigate, resolve (needs a comment), close, "
                                               "reopen, retrigger, false_positive (needs a comment), duplicate.")
    comment: str | None = Field(default=None, max_length=4000)
    duplicate_of: str | None = Field(default=None, max_length=32, description="INC-n, for 'duplicate'.")


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str = Field(min_length=1, max_length=64, description="Person id from owners.yaml (GET /people).")
    comment: str | None = Field(default=None, max_length=4000)


class CommentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class AddActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    owner: str | None = Field(default=None, max_length=64, description="Person id (default: the incident's owner).")
    due: Instant | None = Field(default=None, description="Due time (naive = the project's timezone).")
    expected_effect: str | None = Field(default=None, max_length=2000,
                                        description="What should happen to the metric, e.g. back to last week's level.")
    link: str | None = Field(default=None, max_length=2000, description="Ticket or merge request.")


class UpdateActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ActionStatus | None = None
    effective_at: Instant | None = Field(default=None, description="When the fix took effect (for verification).")
