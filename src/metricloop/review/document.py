"""The review (复盘) document: required sections, drafted from what MetricLoop already knows.

Sections: summary, impact (numbers and chart data), timeline (from the audit trail), root cause,
actions and their verified effects, lessons. Impact, timeline and actions are drafted
automatically and refreshed on every draft unless a person rewrote their text; summary, root
cause and lessons are for people (cause analysis only *suggests* a root cause). A review cannot
be completed while a required section is empty (:func:`missing_sections`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metricloop.i18n import Text
from metricloop.localtime import localize, table_time, to_local
from metricloop.notify.render import fmt_change, fmt_number
from metricloop.review.effect import VERDICT_LABELS


@dataclass(frozen=True)
class Section:
    key: str
    label: Text
    required: bool = True
    auto: bool = False  # drafted by MetricLoop


SECTIONS: tuple[Section, ...] = (
    Section("summary", Text(en="Summary", zh="概述")),
    Section("impact", Text(en="Impact", zh="影响"), auto=True),
    Section("timeline", Text(en="Timeline", zh="时间线"), auto=True),
    Section("root_cause", Text(en="Root cause", zh="根因")),
    Section("actions", Text(en="Actions and verified effects", zh="行动项与效果验证"), auto=True),
    Section("lessons", Text(en="Lessons", zh="经验教训")),
)
SECTION_KEYS = tuple(s.key for s in SECTIONS)

EVENT_LABELS = {
    "opened": Text(en="incident opened", zh="事件创建"),
    "alert": Text(en="more anomalies joined", zh="新增异常并入"),
    "transition": Text(en="status changed", zh="状态变更"),
    "assign": Text(en="reassigned", zh="转派"),
    "escalate": Text(en="escalated", zh="升级"),
    "comment": Text(en="comment", zh="备注"),
    "action": Text(en="action item", zh="行动项"),
    "ack_sla_breached": Text(en="ack deadline missed", zh="超过确认时限"),
    "resolve_sla_breached": Text(en="resolve deadline missed", zh="超过解决时限"),
    "action_overdue": Text(en="action overdue", zh="行动项逾期"),
    "review_overdue": Text(en="review overdue", zh="复盘逾期"),
    "channel_broken": Text(en="notification channel broken", zh="通知渠道故障"),
    "dead": Text(en="notification undeliverable", zh="通知无法送达"),
    "effect_verified": Text(en="effect verified", zh="效果验证"),
    "review": Text(en="review", zh="复盘"),
}
T = {
    "impact": Text(
        en="{metric} {slice}: {actual} vs {expected} expected ({change}) from {start} to {end}; "
        "total deviation {impact}.",
        zh="{metric}（{slice}）在 {start} 至 {end} 期间为 {actual}，预期 {expected}（{change}），累计偏差 {impact}。",
    ),
    "no_actions": Text(en="(no action items)", zh="（无行动项）"),
    "effect": Text(en="effect: {summary}", zh="效果：{summary}"),
    "unverified": Text(en="effect not verified yet", zh="效果尚未验证"),
    "all": Text(en="all", zh="整体"),
}


def _fmt_time(t: Any, tz: dt.tzinfo) -> str:
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    if isinstance(t, dt.datetime):
        return table_time(to_local(t, tz))  # stored UTC → 2026-09-02 10:00 +08:00
    return "—"


def _state(status: Any, locale: str) -> str:
    from metricloop.workflow.lifecycle import STATE_LABELS

    label = STATE_LABELS.get(str(status))
    return label.render(locale) if label else str(status)


def timeline(audit: Sequence[Mapping[str, Any]], locale: str, tz: dt.tzinfo,
             name: Callable[[Any], str] = str) -> list[dict[str, Any]]:
    """One entry per audit event, oldest first, with a readable line (people by ``name``: 王芳,
    states in the reader's language)."""
    out = []
    for e in audit:
        label = EVENT_LABELS.get(str(e["kind"]))
        what = label.render(locale) if label else str(e["kind"])
        after = e.get("after") or {}
        before = e.get("before") or {}
        detail = ""
        if e["kind"] == "transition":
            detail = f"{_state(before.get('status'), locale)} → {_state(after.get('status'), locale)}"
        elif e["kind"] == "assign":
            detail = f"{name(before.get('owner'))} → {name(after.get('owner'))}"
        elif e["kind"] == "escalate":
            detail = f"L{after.get('escalation_level')} → {name(after.get('to'))}"
        elif e["kind"] == "opened":
            detail = name(after.get("owner"))
        elif e["kind"] == "action":
            detail = str(after.get("title") or after.get("status") or "")
        elif e["kind"] == "effect_verified":
            verdict = VERDICT_LABELS.get(str(after.get("verdict")))
            detail = verdict.render(locale) if verdict else str(after.get("verdict") or "")
        line = f"{_fmt_time(e['at'], tz)} · {name(e['actor'])} · {what}" + (f": {detail}" if detail else "")
        if e.get("comment"):
            line += f" — {e['comment']}"
        out.append({"at": e["at"], "actor": e["actor"], "kind": e["kind"], "line": line})
    return out


def impact_text(inc: Mapping[str, Any], metric_label: str, unit: str | None, locale: str, tz: dt.tzinfo) -> str:
    sl = ", ".join(f"{k}={v}" for k, v in (inc.get("slice") or {}).items()) or T["all"].render(locale)
    return T["impact"].render(
        locale, metric=metric_label, slice=sl, actual=fmt_number(inc.get("actual"), unit),
        expected=fmt_number(inc.get("expected"), unit),
        change=fmt_change(inc.get("actual"), inc.get("expected")) or "—",
        start=_fmt_time(inc.get("window_start"), tz), end=_fmt_time(inc.get("window_end"), tz),
        impact=fmt_number(inc.get("impact"), unit),
    )


def actions_section(actions: Sequence[Mapping[str, Any]], effects: Sequence[Mapping[str, Any]],
                    locale: str, name: Callable[[Any], str] = str) -> tuple[str, list[dict[str, Any]]]:
    """Text and items: each action with its latest verified effect."""
    latest: dict[Any, Mapping[str, Any]] = {}
    for e in effects:
        latest[e.get("action_id")] = e
    items, lines = [], []
    for a in actions:
        eff = latest.get(a["id"]) or (latest.get(None) if len(actions) == 1 else None)
        verdict = eff.get("verdict") if eff else None
        items.append({"id": a["id"], "title": a["title"], "owner": a.get("owner"), "status": a["status"],
                      "due_at": a.get("due_at"), "expected_effect": a.get("expected_effect"),
                      "verdict": verdict, "effect": dict(eff) if eff else None})
        result = (T["effect"].render(locale, summary=eff.get("summary") or VERDICT_LABELS[str(verdict)].render(locale))
                  if eff else T["unverified"].render(locale))
        lines.append(f"- [{a['status']}] {a['title']} ({name(a.get('owner')) if a.get('owner') else '—'}) — {result}")
    if not items and effects:  # verified without a tracked action
        e = effects[-1]
        lines.append("- " + T["effect"].render(locale, summary=e.get("summary") or e.get("verdict")))
    return ("\n".join(lines) if lines else ""), items


def draft(
    inc: Mapping[str, Any],
    effects: Sequence[Mapping[str, Any]],
    existing: Mapping[str, Any] | None,
    *,
    metric_label: str,
    unit: str | None,
    locale: str,
    tz: dt.tzinfo,
    chart: Mapping[str, Any] | None = None,
    name: Callable[[Any], str] = str,
) -> dict[str, Any]:
    """Sections drafted from the incident (``workflow.incident()`` output); people's text kept.
    ``name`` turns a person id into the name people know (``wang.fang`` → 王芳)."""
    old = dict(existing or {})
    sections: dict[str, Any] = {}
    for sec in SECTIONS:
        prev = old.get(sec.key) or {}
        sections[sec.key] = {"text": prev.get("text", ""), "data": prev.get("data", {}),
                             "edited": bool(prev.get("edited", False))}
    auto_text = {
        "impact": impact_text(inc, metric_label, unit, locale, tz),
        "timeline": "\n".join(e["line"] for e in timeline(inc.get("audit") or [], locale, tz, name)),
    }
    act_text, act_items = actions_section(inc.get("actions") or [], effects, locale, name)
    auto_text["actions"] = act_text
    data = {
        "impact": {"metric": inc.get("metric"), "slice": inc.get("slice"), "actual": inc.get("actual"),
                   "expected": inc.get("expected"), "impact": inc.get("impact"),
                   "window_start": inc.get("window_start"), "window_end": inc.get("window_end"),
                   "alerts": len(inc.get("alerts") or []), "chart": dict(chart) if chart else prev_chart(old)},
        "timeline": {"events": timeline(inc.get("audit") or [], locale, tz, name)},
        "actions": {"items": act_items},
    }
    for key, text in auto_text.items():
        sections[key]["data"] = data[key]
        if not sections[key]["edited"]:
            sections[key]["text"] = text
    sections["root_cause"]["data"] = {**sections["root_cause"]["data"], "suggested": list(inc.get("causes") or [])}
    return _plain(localize(sections, tz))  # stored times written in the project's timezone, offset included


def _plain(value: Any) -> Any:
    """JSON-storable copy (datetimes as ISO strings)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def prev_chart(old: Mapping[str, Any]) -> Any:
    return ((old.get("impact") or {}).get("data") or {}).get("chart")


def missing_sections(sections: Mapping[str, Any]) -> list[str]:
    """Required sections with no text (what blocks completing the review)."""
    return [s.key for s in SECTIONS if s.required and not str((sections.get(s.key) or {}).get("text") or "").strip()]


def to_markdown(title: str, sections: Mapping[str, Any], locale: str) -> str:
    parts = [f"# {title}", ""]
    for s in SECTIONS:
        parts += [f"## {s.label.render(locale)}", "", str((sections.get(s.key) or {}).get("text") or "—"), ""]
    return "\n".join(parts)
