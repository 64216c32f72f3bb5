"""Turn a :class:`Notification` into each platform's message body, in zh-CN or en.

One composer writes the lines (title, facts, causes, owners, links) through a small
:class:`Flavor` (how this platform writes bold, links and mentions); one function per platform
wraps them in that platform's JSON. Bodies are fitted to the platform's size limit by dropping
whole list lines first ("… and 7 more") and cutting bytes only as a last resort, on a UTF-8
boundary, so a message is never rejected for being too long and never ends in a broken character.
DingTalk and Feishu keywords go into the title and the text of every kind, digests included.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from metricloop.i18n import Text, normalize_locale
from metricloop.localtime import table_time
from metricloop.notify.config import (
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
)
from metricloop.notify.message import DigestItem, Mention, Notification

# Size limits (chat-robots.md): DingTalk "exceed 20000 bytes", WeCom text 2048 / markdown 4096
# bytes of content, Feishu request body ≤ 20 KB, Slack section text ≤ 3000 characters;
# Standard Webhooks recommends payloads < 20 KB.
DINGTALK_MAX_BYTES = 20_000
WECOM_MARKDOWN_MAX_BYTES = 4096
WECOM_TEXT_MAX_BYTES = 2048
FEISHU_MAX_BYTES = 20_000
SLACK_SECTION_MAX_CHARS = 3000
WEBHOOK_MAX_BYTES = 20_000
MAX_LINE_CHARS = 300
MAX_ITEMS = 200

T = {
    "alert": Text(en="[{severity}] {metric} is abnormal", zh="【{severity}】{metric} 异常"),
    "resolved": Text(en="[Resolved] {metric} is back to normal", zh="【已恢复】{metric} 恢复正常"),
    "reminder": Text(en="[Reminder] {metric} incident is still open", zh="【提醒】{metric} 事件仍未处理"),
    "escalation": Text(
        en="[Escalated L{level}] {metric} not acknowledged", zh="【升级 L{level}】{metric} 异常未确认"
    ),
    "digest": Text(en="[Digest] {count} notifications", zh="【汇总】{count} 条通知"),
    "test": Text(en="MetricLoop test message", zh="MetricLoop 测试消息"),
    "test_body": Text(
        en="This channel is configured correctly.", zh="此渠道配置正确，可以接收 MetricLoop 通知。"
    ),
    "metric": Text(en="Metric", zh="指标"),
    "slice": Text(en="Slice", zh="维度"),
    "value": Text(en="Value", zh="当前值"),
    "expected": Text(en="expected", zh="预期"),
    "severity": Text(en="Severity", zh="级别"),
    "time": Text(en="Time", zh="时间"),
    "causes": Text(en="Top causes", zh="主要原因"),
    "owners": Text(en="Owner", zh="负责人"),
    "view": Text(en="View incident", zh="查看事件"),
    "ack": Text(en="Acknowledge", zh="确认处理"),
    "resolve": Text(en="Resolve", zh="标记解决"),
    "more": Text(en="… and {n} more", zh="…… 另有 {n} 条"),
    "all": Text(en="all", zh="全部"),
}
SEVERITY = {
    "critical": Text(en="Critical", zh="严重"),
    "high": Text(en="High", zh="高"),
    "medium": Text(en="Medium", zh="中"),
    "low": Text(en="Low", zh="低"),
    "info": Text(en="Info", zh="提示"),
}
KIND_LABEL = {
    "alert": Text(en="alert", zh="告警"),
    "resolved": Text(en="resolved", zh="恢复"),
    "reminder": Text(en="reminder", zh="提醒"),
    "escalation": Text(en="escalation", zh="升级"),
    "digest": Text(en="digest", zh="汇总"),
    "test": Text(en="test", zh="测试"),
}


@dataclass(frozen=True)
class Flavor:
    """How one platform writes rich text."""

    bold: Callable[[str], str] = lambda s: f"**{s}**"
    link: Callable[[str, str], str] = lambda text, url: f"[{text}]({url})"
    escape: Callable[[str], str] = lambda s: s
    mention: Callable[[Mention], str] = lambda m: f"@{m.name}"
    heading: Callable[[str], str] = lambda s: f"### {s}"


def _dingtalk_mention(m: Mention) -> str:
    return f"@{m.mobile}" if m.mobile else f"@{m.user_ids.get('dingtalk', m.name)}"


def _feishu_mention(m: Mention) -> str:
    if "feishu" in m.user_ids:
        return f"<at id={m.user_ids['feishu']}></at>"
    return f"<at email={m.email}></at>" if m.email else f"@{m.name}"


def _slack_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


MARKDOWN = Flavor()
DINGTALK = Flavor(mention=_dingtalk_mention)
WECOM = Flavor(mention=lambda m: f"<@{m.user_ids['wecom']}>" if "wecom" in m.user_ids else f"@{m.name}")
FEISHU = Flavor(mention=_feishu_mention)
SLACK = Flavor(
    bold=lambda s: f"*{s}*",
    link=lambda text, url: f"<{url}|{text}>",
    escape=_slack_escape,
    mention=lambda m: f"<@{m.user_ids['slack']}>" if "slack" in m.user_ids else f"@{m.name}",
    heading=lambda s: f"*{s}*",
)
PLAIN = Flavor(
    bold=lambda s: s,
    link=lambda text, url: f"{text}: {url}",
    mention=lambda m: f"@{m.mobile or m.name}",
    heading=lambda s: s,
)


def _clip(s: str, n: int = MAX_LINE_CHARS) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def truncate_utf8(s: str, max_bytes: int, suffix: str = "…") -> str:
    """Cut ``s`` to at most ``max_bytes`` UTF-8 bytes without splitting a character."""
    b = s.encode("utf-8")
    if len(b) <= max_bytes:
        return s
    room = max(0, max_bytes - len(suffix.encode("utf-8")))
    return b[:room].decode("utf-8", errors="ignore") + suffix


def fmt_number(v: float | None, unit: str | None = None, spec: str | None = None) -> str:
    """Readable figure: the metric's own format ``spec`` when it has one, else thousands
    separators for big values and 4 significant digits for small ones."""
    if v is None:
        return "—"
    if spec:
        try:
            s = format(v, spec)
        except (TypeError, ValueError):
            pass  # a spec the figure cannot take: the readable default below
        else:
            return s if unit is None or (unit == "%" and s.endswith("%")) else f"{s} {unit}"
    if unit == "%":  # a percent metric holds fractions: 0.0882 is 8.82 %
        return f"{v * 100:.2f}%"
    if abs(v) >= 1000:
        s = f"{v:,.0f}"
    elif abs(v) >= 1:
        s = f"{v:,.2f}".rstrip("0").rstrip(".")
    else:
        s = f"{v:.4g}"
    return f"{s} {unit}" if unit else s


def fmt_change(value: float | None, expected: float | None) -> str:
    if value is None or expected is None or expected == 0:
        return ""
    return f"{(value - expected) / abs(expected) * 100:+.1f}%"


def fmt_slice(sl: dict[str, str], locale: str) -> str:
    return ", ".join(f"{k}={v}" for k, v in sl.items()) if sl else T["all"].render(locale)


def fmt_time(t: datetime | None) -> str:
    if t is None:
        return ""
    return table_time(t)  # 2026-09-02 10:00 +08:00: the offset, not an ambiguous "CST"


def title_of(n: Notification, locale: str, keyword: str | None = None) -> str:
    """The one-line title; the keyword is prepended when a robot requires one."""
    sev = SEVERITY.get(n.severity)
    params = {
        "severity": sev.render(locale) if sev else n.severity,
        "metric": _clip(n.metric, 80),
        "level": n.escalation_level or 1,
        "count": len(n.items),
    }
    title = T[n.kind].render(locale, **params)
    return f"{keyword} {title}" if keyword and keyword not in title else title


@dataclass
class Composed:
    """A message as lines: ``head`` is always kept; ``items`` (causes, digest entries) are
    dropped from the end when the body is too long, counted in ``hidden`` ("… and N more")."""

    locale: str
    title: str
    head: list[str]
    items: list[str]
    owners: str
    links: list[tuple[str, str]] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    hidden: int = 0

    @property
    def body(self) -> list[str]:
        more = [T["more"].render(self.locale, n=self.hidden)] if self.hidden else []
        return [*self.items, *more]

    def lines(self, f: Flavor, *, with_links: bool = True) -> list[str]:
        out = [f.heading(f.escape(self.title)), *self.head, *self.body]
        if self.owners:
            out.append(self.owners)
        if with_links and self.links:
            out.append(" | ".join(f.link(f.escape(t), u) for t, u in self.links))
        return out + self.tail


def _value_line(
    value: float | None, expected: float | None, unit: str | None, locale: str, spec: str | None = None
) -> str:
    s = fmt_number(value, unit, spec)
    if expected is not None:
        change = fmt_change(value, expected)
        s += (
            f" ({T['expected'].render(locale)} {fmt_number(expected, unit, spec)}{', ' + change if change else ''})"
        )
    return s


def _item_line(it: DigestItem, locale: str, f: Flavor) -> str:
    sev = SEVERITY.get(it.severity)
    kind = KIND_LABEL[it.kind].render(locale)
    head = f"[{sev.render(locale) if sev else it.severity}·{kind}] {f.escape(_clip(it.metric, 80))}"
    text = f"- {head} {f.escape(_clip(fmt_slice(it.slice, locale), 120))}: "
    text += _value_line(it.value, it.expected, it.unit, locale, it.value_format)
    if it.incident_url:
        text += " " + f.link(T["view"].render(locale), it.incident_url)
    return text


def compose(n: Notification, locale: str, f: Flavor, keyword: str | None = None) -> Composed:
    """The content of a message in ``locale``, written with flavor ``f``."""
    loc = normalize_locale(locale)
    title = title_of(n, loc, keyword)
    head: list[str] = []
    body: list[str] = []

    def fact(label: str, value: str) -> None:
        head.append(f"{f.bold(T[label].render(loc))}: {value}")

    if n.kind == "test":
        head.append(T["test_body"].render(loc))
    elif n.kind == "digest":
        body.extend(_item_line(it, loc, f) for it in n.items[:MAX_ITEMS])
    else:
        fact("metric", f.escape(_clip(n.metric, 120)))
        fact("slice", f.escape(_clip(fmt_slice(n.slice, loc), 200)))
        if n.value is not None:
            fact("value", _value_line(n.value, n.expected, n.unit, loc, n.value_format))
        sev = SEVERITY.get(n.severity)
        fact("severity", sev.render(loc) if sev else f.escape(n.severity))
        if n.observed_at:
            fact("time", fmt_time(n.observed_at))
        if n.causes:
            head.append(f"{f.bold(T['causes'].render(loc))}:")
            body.extend(f"{i}. {f.escape(_clip(c))}" for i, c in enumerate(n.causes, 1))
    owners = ""
    if n.mentions:
        owners = f"{f.bold(T['owners'].render(loc))}: " + " ".join(f.mention(m) for m in n.mentions[:20])
    links = [
        (T[key].render(loc), url)
        for key, url in (("view", n.incident_url), ("ack", n.ack_url), ("resolve", n.resolve_url))
        if url
    ]
    tail = [f.escape(_clip(n.note, 500))] if n.note else []
    if keyword:
        tail.append(f"— {keyword}")
    hidden = max(0, len(n.items) - MAX_ITEMS)
    return Composed(loc, title, head, body, owners, links, tail, hidden)


def _fit(c: Composed, size: Callable[[Composed], int], limit: int) -> Composed:
    """Drop item lines from the end until ``size(c) <= limit``; the reader sees how many."""
    while c.items and size(c) > limit:
        c = replace(c, items=c.items[:-1], hidden=c.hidden + 1)
    return c


def _json_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


# --- platforms -----------------------------------------------------------------------------


def render_dingtalk(ch: DingTalkChannel, n: Notification) -> dict[str, Any]:
    """markdown (pings @-mentions via ``at``) or actionCard with link buttons (no @ possible)."""
    loc = ch.locale
    use_card = ch.style == "card" or (ch.style == "auto" and not n.mentions)
    c = compose(n, loc, DINGTALK, ch.keyword)
    mobiles = [m.mobile for m in n.mentions if m.mobile]
    user_ids = [m.user_ids["dingtalk"] for m in n.mentions if not m.mobile and "dingtalk" in m.user_ids]

    def build(c: Composed) -> dict[str, Any]:
        text = "\n\n".join(c.lines(DINGTALK, with_links=not (use_card and c.links)))
        if use_card and c.links:
            btns = [{"title": t, "actionURL": u} for t, u in c.links]
            return {
                "msgtype": "actionCard",
                "actionCard": {"title": c.title, "text": text, "btnOrientation": "1", "btns": btns},
            }
        return {
            "msgtype": "markdown",
            "markdown": {"title": c.title, "text": text},
            "at": {"atMobiles": mobiles, "atUserIds": user_ids, "isAtAll": False},
        }

    c = _fit(c, lambda x: _json_size(build(x)), DINGTALK_MAX_BYTES)
    return _hard_limit(build(c), DINGTALK_MAX_BYTES)


def render_wecom(ch: WeComChannel, n: Notification) -> dict[str, Any]:
    """markdown with ``<@userid>``; plain text when an owner is known only by mobile number
    (WeCom pings by mobile only in text messages)."""
    loc = ch.locale
    by_mobile = [m.mobile for m in n.mentions if m.mobile and "wecom" not in m.user_ids]
    if by_mobile:
        c = compose(n, loc, PLAIN)
        user_ids = [m.user_ids["wecom"] for m in n.mentions if "wecom" in m.user_ids]

        def build_text(c: Composed) -> str:
            return "\n".join(c.lines(PLAIN))

        c = _fit(c, lambda x: len(build_text(x).encode()), WECOM_TEXT_MAX_BYTES)
        content = truncate_utf8(build_text(c), WECOM_TEXT_MAX_BYTES)
        return {
            "msgtype": "text",
            "text": {"content": content, "mentioned_list": user_ids, "mentioned_mobile_list": by_mobile},
        }
    color = "info" if n.kind == "resolved" else "warning" if n.severity in ("critical", "high") else "comment"
    c = compose(n, loc, WECOM)

    def build_md(c: Composed) -> str:
        lines = c.lines(WECOM)
        lines[0] = f'### <font color="{color}">{c.title}</font>'
        return "\n".join(lines)

    c = _fit(c, lambda x: len(build_md(x).encode()), WECOM_MARKDOWN_MAX_BYTES)
    return {
        "msgtype": "markdown",
        "markdown": {"content": truncate_utf8(build_md(c), WECOM_MARKDOWN_MAX_BYTES)},
    }


FEISHU_TEMPLATE = {"critical": "red", "high": "red", "medium": "orange", "low": "yellow", "info": "blue"}


def render_feishu(ch: FeishuChannel, n: Notification) -> dict[str, Any]:
    """Interactive card (JSON 1.0): coloured header, lark_md facts, URL buttons, keyword note."""
    loc = ch.locale
    c = compose(n, loc, FEISHU, ch.keyword)
    template = (
        "green"
        if n.kind == "resolved"
        else "blue"
        if n.kind == "test"
        else FEISHU_TEMPLATE.get(n.severity, "orange")
    )

    def build(c: Composed) -> dict[str, Any]:
        md = "\n".join([*c.head, *c.body] + ([c.owners] if c.owners else []))
        elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": md}}]
        if c.links:
            kinds = ["default", "primary", "danger"]
            elements.append(
                {
                    "tag": "action",
                    "actions": [
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": t},
                            "type": kinds[min(i, 2)],
                            "url": u,
                        }
                        for i, (t, u) in enumerate(c.links)
                    ],
                }
            )
        if c.tail:
            elements.append({"tag": "hr"})
            elements.append({"tag": "note", "elements": [{"tag": "lark_md", "content": "\n".join(c.tail)}]})
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {"title": {"tag": "plain_text", "content": c.title}, "template": template},
                "elements": elements,
            },
        }

    # Room for the top-level timestamp and sign added when signing.
    c = _fit(c, lambda x: _json_size(build(x)) + 120, FEISHU_MAX_BYTES)
    return _hard_limit(build(c), FEISHU_MAX_BYTES - 120)


def render_slack(ch: SlackChannel, n: Notification) -> dict[str, Any]:
    """Block Kit: header, facts, causes/items, owners and links as mrkdwn (link buttons in an
    incoming webhook would need an interactive Slack app)."""
    loc = ch.locale
    c = compose(n, loc, SLACK)

    def section(lines: list[str]) -> dict[str, Any]:
        text = "\n".join(lines)
        if len(text) > SLACK_SECTION_MAX_CHARS:
            text = text[: SLACK_SECTION_MAX_CHARS - 1] + "…"
        return {"type": "section", "text": {"type": "mrkdwn", "text": text}}

    c = _fit(c, lambda x: len("\n".join(x.body)), SLACK_SECTION_MAX_CHARS)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(c.title, 150)}}
    ]
    if c.head:
        blocks.append(section(c.head))
    if c.body:
        blocks.append(section(c.body))
    footer = ([c.owners] if c.owners else []) + (
        [" | ".join(SLACK.link(SLACK.escape(t), u) for t, u in c.links)] if c.links else []
    )
    if footer or c.tail:
        blocks.append(section(footer + c.tail))
    return {"text": _slack_escape(c.title), "blocks": blocks}


WEBHOOK_TYPES = {
    "alert": "metricloop.alert.triggered",
    "resolved": "metricloop.alert.resolved",
    "reminder": "metricloop.incident.reminder",
    "escalation": "metricloop.incident.escalated",
    "digest": "metricloop.digest",
    "test": "metricloop.test",
}


def render_webhook(ch: WebhookChannel, n: Notification, *, now: datetime) -> dict[str, Any]:
    """Standard-Webhooks style payload ``{type, timestamp, data}``; ``data`` is the notification
    plus its localized title, with long lists trimmed to stay under 20 KB."""
    data = n.model_dump(mode="json")
    data["title"] = title_of(n, ch.locale)
    data["locale"] = ch.locale
    payload = {"type": WEBHOOK_TYPES[n.kind], "timestamp": now.isoformat(), "data": data}
    for key in ("items", "causes"):
        while data[key] and _json_size(payload) > WEBHOOK_MAX_BYTES:
            data[key].pop()
            data["truncated"] = True
    return payload


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


def render_email(ch: EmailChannel, n: Notification) -> EmailContent:
    """Plain-text and HTML parts of the same content."""
    loc = ch.locale
    c = compose(n, loc, PLAIN)
    text = "\n".join(c.lines(PLAIN))
    hf = Flavor(
        bold=lambda s: f"<b>{s}</b>",
        link=lambda t, u: f'<a href="{html.escape(u, quote=True)}">{t}</a>',
        escape=html.escape,
        mention=lambda m: html.escape(m.name),
        heading=lambda s: f"<h3>{s}</h3>",
    )
    hc = compose(n, loc, hf)
    parts = [hf.heading(hf.escape(hc.title))]
    parts += [f"<p>{line}</p>" for line in hc.head]
    if hc.body:
        parts.append("<ul>" + "".join(f"<li>{line.lstrip('- ')}</li>" for line in hc.body) + "</ul>")
    if hc.owners:
        parts.append(f"<p>{hc.owners}</p>")
    if hc.links:
        parts.append("<p>" + " | ".join(hf.link(html.escape(t), u) for t, u in hc.links) + "</p>")
    parts += [f"<p><small>{line}</small></p>" for line in hc.tail]
    body_html = (
        f'<!doctype html><html lang="{loc}"><meta charset="utf-8"><body>{"".join(parts)}</body></html>'
    )
    return EmailContent(subject=c.title, text=text, html=body_html)


def _hard_limit(payload: dict[str, Any], limit: int) -> dict[str, Any]:
    """Last resort for a payload still over ``limit``: cut its longest string on a UTF-8 boundary."""
    while _json_size(payload) > limit:
        holder, key, value = _longest_string(payload)
        if holder is None:
            break
        excess = _json_size(payload) - limit
        holder[key] = truncate_utf8(value, max(0, len(value.encode()) - excess - 8))
    return payload


def _longest_string(obj: Any) -> tuple[Any, Any, str]:
    best: tuple[Any, Any, str] = (None, None, "")
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    for k, v in items:
        if isinstance(v, str) and len(v.encode()) > len(best[2].encode()):
            best = (obj, k, v)
        elif isinstance(v, dict | list):
            cand = _longest_string(v)
            if cand[0] is not None and len(cand[2].encode()) > len(best[2].encode()):
                best = cand
    return best
