"""Notification channels as people see them: each entry of ``channels.yaml`` with its state
(configured or why not, broken, messages waiting), and a test send. Never a secret: targets are
shown without credentials and problems are redacted.

Each channel is checked on its own, so one channel whose environment variable is unset
(``metricloop serve`` of the demo folder outside ``metricloop demo``) is shown as not configured,
with the reason, while the others still work. The API (``GET /channels``, ``POST
/channels/{name}/test``) and the UI's channels page both call these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, Field

from metricloop.errors import ConfigError, MetricLoopError, NotFoundError
from metricloop.notify.config import Channel, parse_channels
from metricloop.secrets import redact
from metricloop.store.workflow_models import ChannelState, OutboxMessage

if TYPE_CHECKING:
    from metricloop.service import MetricLoop


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


Entry = tuple[dict[str, Any], Channel | None, tuple[str, str] | None]


def channel_entries(ml: MetricLoop) -> list[Entry]:
    """Every channel of channels.yaml: its raw entry, the validated channel (or None) and the
    problem in English and Chinese."""
    path = ml.project.path("channels.yaml")
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"channels.yaml is not valid YAML: {str(exc).splitlines()[0]}",
                          zh="channels.yaml 不是有效的 YAML") from None
    out: list[Entry] = []
    for i, entry in enumerate(raw.get("channels") or []):
        if not isinstance(entry, dict):
            continue
        alone = {k: v for k, v in entry.items() if k != "fallback"}  # fallbacks are checked with the whole file
        try:
            channel = parse_channels({"channels": [alone]}).channels[0]
            if channel.unconfigured is not None:  # an unset ${VAR}: listed, not usable
                out.append((entry, None, (
                    redact(channel.unconfigured.replace("channels[0]", f"channels[{i}]")),
                    redact((channel.unconfigured_zh or "").replace("channels[0]", f"channels[{i}]")))))
                continue
            out.append((entry, channel, None))
        except MetricLoopError as exc:
            en = redact(_problem(exc, i))
            zh = redact(exc.message_zh.replace("channels[0]", f"channels[{i}]")) if exc.message_zh and \
                not getattr(exc, "issues", None) else en
            out.append((entry, None, (en, zh)))
    return out


def _problem(exc: MetricLoopError, index: int) -> str:
    """Why a channel cannot be used, naming its own entry (``channels[2].url``)."""
    issues = getattr(exc, "issues", None) or []
    text = "; ".join(f"{i.location.field}: {i.message}" if i.location and i.location.field else i.message
                     for i in issues) or exc.message
    return text.replace("channels[0]", f"channels[{index}]")


def channel_rows(ml: MetricLoop) -> list[ChannelOut]:
    with ml.store.session() as s:
        broken = {r.channel: r.reason for r in s.scalars(sa.select(ChannelState).where(ChannelState.broken))}
        counts: dict[tuple[str, str], int] = {
            (str(ch), str(st)): int(n) for ch, st, n in s.execute(
                sa.select(OutboxMessage.channel, OutboxMessage.status, sa.func.count())
                .where(OutboxMessage.status.in_(("pending", "dead")))
                .group_by(OutboxMessage.channel, OutboxMessage.status))}
    rows = []
    for entry, channel, problem in channel_entries(ml):
        name = str(entry.get("name", "?"))
        rows.append(ChannelOut(
            name=name, type=str(entry.get("type", "?")), target=channel.safe_target if channel else None,
            locale=str(entry.get("locale", "zh-CN")), fallback=entry.get("fallback"),
            enabled=bool(entry.get("enabled", True)), configured=channel is not None,
            problem=problem[0] if problem else None, problem_zh=problem[1] if problem else None,
            broken=name in broken, broken_reason=redact(broken[name] or "") if broken.get(name) else None,
            pending=counts.get((name, "pending"), 0), dead=counts.get((name, "dead"), 0)))
    return rows


def test_send(ml: MetricLoop, name: str, actor: str, locale: str) -> TestSendOut:
    """Send one test message through ``name`` now (not through the outbox: the answer is immediate)."""
    import uuid

    from metricloop.notify.message import Notification
    from metricloop.notify.senders import Notifier

    found = [(c, p) for e, c, p in channel_entries(ml) if e.get("name") == name]
    if not found:
        raise NotFoundError(f"no channel named {name!r} in channels.yaml", zh=f"channels.yaml 中没有渠道 {name!r}")
    channel, problem = found[0]
    if channel is None:
        en, zh = problem or ("invalid definition", "定义无效")
        raise ConfigError(f"channel {name!r} cannot be used: {en}", zh=f"渠道 {name!r} 无法使用：{zh}")
    note = ("MetricLoop 测试消息：渠道配置正常。" if locale == "zh-CN"
            else "MetricLoop test message: the channel is set up correctly.")
    notification = Notification(kind="test", severity="info", metric="MetricLoop", note=f"{note} ({actor})")
    with Notifier() as notifier:
        result = notifier.send(channel, notification, f"test-{name}-{uuid.uuid4().hex[:12]}")
    ml.access.audit(actor, "channel.test", name, outcome="ok" if result.ok else "error", detail=result.detail)
    return TestSendOut(channel=name, delivered=result.ok, outcome=result.outcome, status=result.status,
                       code=result.code, detail=redact(result.detail))
