"""Notification channels (never their secrets), test sends and the outbox; the channel models
are :mod:`metricloop.views.channels`, re-exported here for the API's schemas."""

from __future__ import annotations

from pydantic import BaseModel

from metricloop.localtime import Instant
from metricloop.views.channels import ChannelOut, TestSendOut

__all__ = ["ChannelOut", "OutboxItem", "TestSendOut"]


class OutboxItem(BaseModel):
    id: str
    incident: str | None
    kind: str
    target: str
    channel: str
    status: str
    attempts: int
    next_attempt_at: Instant | None
    delivered_at: Instant | None
    covered_by: str | None
    last_error: str | None
