"""Notification channels (never their secrets) and test sends."""

from __future__ import annotations

from pydantic import BaseModel, Field

from metricloop.localtime import Instant


class ChannelOut(BaseModel):
    name: str
    type: str = Field(description="dingtalk | wecom | feishu | slack | webhook | email")
    target: str | None = Field(description="Where it points, without credentials (https://host/…, smtp://host:port).")
    locale: str | None
    fallback: str | None
    enabled: bool
    configured: bool = Field(description="False when the definition cannot be used (e.g. an env var is unset).")
    problem: str | None = Field(description="Why it cannot be used, naming the variable or field.")
    problem_zh: str | None = Field(description="The same in Chinese.")
    broken: bool = Field(description="Marked broken after a permanent delivery error (messages use the fallback).")
    broken_reason: str | None
    pending: int = Field(description="Messages waiting to be delivered through it.")
    dead: int = Field(description="Messages it could not deliver anywhere.")


class TestSendOut(BaseModel):
    channel: str
    delivered: bool
    outcome: str = Field(description="sent | retryable | permanent")
    status: int | None = Field(description="HTTP status or SMTP reply code.")
    code: str | None = Field(description="The platform's error code, if any.")
    detail: str = Field(description="What happened (credentials masked).")


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
