"""The channel-neutral notification: what happened, to which metric, who must act, where to click.

The workflow builds one :class:`Notification` per event; :mod:`metricloop.notify.render` turns
it into each platform's body in the channel's locale. Keeping it platform-free is what lets one
outbox row fan out to DingTalk, Feishu and email alike, and lets overflow be folded into a digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["alert", "resolved", "reminder", "escalation", "digest", "test"]
KINDS: tuple[str, ...] = ("alert", "resolved", "reminder", "escalation", "digest", "test")
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")


def severity_rank(severity: str) -> int:
    """0 = most severe; unknown severities sort with ``medium``."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else SEVERITIES.index("medium")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mention(_Frozen):
    """An owner to @-mention; each platform uses the id it knows (from ``owners.yaml``).

    ``user_ids`` keys: ``dingtalk`` (userid), ``wecom`` (userid), ``feishu`` (open_id ``ou_…``),
    ``slack`` (member id ``U…``).
    """

    name: str
    mobile: str | None = None
    email: str | None = None
    user_ids: dict[str, str] = Field(default_factory=dict)


class DigestItem(_Frozen):
    """One notification folded into a digest (only what a reader needs to triage it)."""

    kind: Kind
    metric: str
    severity: str = "medium"
    slice: dict[str, str] = Field(default_factory=dict)
    value: float | None = None
    expected: float | None = None
    unit: str | None = None
    value_format: str | None = None
    incident_url: str | None = None


class Notification(_Frozen):
    """Everything a message says; no platform syntax, no locale (the channel chooses it)."""

    kind: Kind
    metric: str = ""
    severity: str = "medium"
    slice: dict[str, str] = Field(default_factory=dict)
    value: float | None = None
    expected: float | None = None
    unit: str | None = None
    value_format: str | None = None
    """The metric's own format spec (``,.0f``, ``.2%``): figures read as on its dashboard."""
    observed_at: datetime | None = None
    causes: list[str] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    incident_id: str | None = None
    incident_url: str | None = None
    ack_url: str | None = None
    resolve_url: str | None = None
    escalation_level: int | None = None
    items: list[DigestItem] = Field(default_factory=list)
    note: str | None = None

    def as_item(self) -> DigestItem:
        return DigestItem(
            kind=self.kind,
            metric=self.metric,
            severity=self.severity,
            slice=self.slice,
            value=self.value,
            expected=self.expected,
            unit=self.unit,
            value_format=self.value_format,
            incident_url=self.incident_url,
        )


def make_digest(notifications: Sequence[Notification]) -> Notification:
    """Fold several notifications into ONE digest (rate-limit overflow is coalesced, never dropped).

    Items are ordered most severe first; owners of every item are mentioned once; a digest
    folded again is flattened so no item is lost.
    """
    items: list[DigestItem] = []
    for n in notifications:
        items.extend(n.items if n.kind == "digest" else [n.as_item()])
    items.sort(key=lambda it: severity_rank(it.severity))
    mentions: dict[str, Mention] = {}
    for n in notifications:
        for m in n.mentions:
            mentions.setdefault(m.name, m)
    worst = min((it.severity for it in items), key=severity_rank, default="info")
    observed = [n.observed_at for n in notifications if n.observed_at is not None]
    return Notification(
        kind="digest",
        severity=worst,
        items=items,
        mentions=list(mentions.values()),
        observed_at=max(observed) if observed else None,
    )
