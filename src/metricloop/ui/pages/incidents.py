"""The incident board (columns by state, filters by owner, team and severity) and the incident
page: what happened, why (explanation: top causes and the split over the metric tree), what is
being done (actions, comments, timeline), the buttons to move it on, similar past cases and the
verification chart.

Both read through the API's own functions (``api.routes.incidents``) so the UI and the API show
the same incidents to the same user; records outside the user's rows are not found. The page
can hand the incident to another person of owners.yaml (chosen by name) and close it as a
duplicate of another incident the user can see.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nicegui import ui

from metricloop.access.context import acting_as
from metricloop.access.roles import Action
from metricloop.errors import MetricLoopError, NotFoundError
from metricloop.localtime import offset, wall_clock
from metricloop.ui.data import (
    SEVERITY_COLOR,
    STATUS_COLOR,
    change_tone,
    dimension_label,
    duplicate_candidates,
    local_time,
    metric_value,
    one_language,
    people_options,
    record_title,
    slice_text,
)
from metricloop.ui.data import (
    value_formatter as _value_formatter,
)
from metricloop.ui.layout import PageContext, page, section_title
from metricloop.ui.pages.alerts import window_chart
from metricloop.ui.texts import T
from metricloop.views import scope
from metricloop.views.incidents import IncidentDetail, IncidentSummary, build_board, detail, explanations

ACTION_ORDER = ("ack", "investigate", "mitigate", "resolve", "close", "reopen", "false_positive", "retrigger")
NEEDS_COMMENT = ("resolve", "false_positive")


def element_text(ctx: PageContext, element: str) -> str:
    """``province=四川&channel=app`` → "省份=四川 · 渠道=app"."""
    parts = []
    for part in element.split("&"):
        k, sep, v = part.partition("=")
        parts.append(f"{dimension_label(ctx.ml, k, ctx.locale)}={v}" if sep else part)
    return " · ".join(parts)


def severity_badge(ctx: PageContext, severity: str) -> None:
    ui.badge(ctx.t(f"sev_{severity}")).props(f"color={SEVERITY_COLOR.get(severity, 'grey')}")


def status_badge(ctx: PageContext, status: str, label: str) -> ui.badge:
    return ui.badge(label).props(f"color={STATUS_COLOR.get(status, 'grey')} outline")


# ---------------------------------------------------------------------------------- the board
def top_slices(ctx: PageContext, explanation: dict[str, Any] | None, n: int = 3) -> list[str]:
    """The explanation's top slices as people read them: "省份=四川 · 渠道=app -45%".

    The localized causes when the search found some; else the values of the most surprising
    dimension that carried most of the change (the drill-down's first rows)."""
    out = []
    for c in ((explanation or {}).get("causes") or [])[:n]:
        text = str((c.get(ctx.locale) or c.get("en") or "") if isinstance(c, dict) else c)
        element, _, change = text.rpartition(" ")
        out.append(f"{element_text(ctx, element)} {change}" if change.endswith("%") and element
                   else element_text(ctx, text))
    if not out and (explanation or {}).get("explanation_id"):
        try:
            full = scope.explanation(ctx.ml, ctx.principal, int(explanation["explanation_id"]))  # type: ignore[index]
        except MetricLoopError:
            full = {}
        dims = ((full.get("drilldown") or {}).get("dimensions") or [])[:1]
        for d in dims:
            rows = sorted((r for r in d.get("rows", []) if not r.get("is_other")),
                          key=lambda r: -abs(r.get("contribution") or 0.0))[:n]
            for r in rows:
                rel = r.get("relative_change")
                out.append(f"{dimension_label(ctx.ml, d['dimension'], ctx.locale)}={r['value']}"
                           + (f" {rel:+.0%}" if rel is not None else ""))
    return [t for t in out if t.strip()]


def _card(ctx: PageContext, inc: IncidentSummary, explanation: dict[str, Any] | None = None) -> None:
    with ui.card().classes("w-full cursor-pointer hover:shadow-lg p-3 gap-1") \
            .props(f'data-testid="incident-card" data-incident="{inc.id}"') \
            .on("click", lambda _=None, n=inc.number: ui.navigate.to(f"/incidents/{n}")):
        with ui.row().classes("items-center gap-2 no-wrap"):
            severity_badge(ctx, inc.severity)
            ui.label(inc.id).classes("text-xs text-gray-500")
            if inc.overdue:
                ui.badge(ctx.t("overdue")).props("color=red-9")
        ui.label(inc.metric_label).classes("font-semibold text-gray-900")
        sl = slice_text(inc.slice, ctx.ml, ctx.locale)
        if sl:
            ui.label(sl).classes("text-xs text-gray-600")
        ui.label(ctx.t("actual_vs_expected", actual=metric_value(ctx.ml, inc.metric, inc.actual),
                       expected=metric_value(ctx.ml, inc.metric, inc.expected))).classes("text-sm")
        slices = top_slices(ctx, explanation)
        if slices:
            with ui.column().classes("gap-0").props('data-testid="incident-top-slices"'):
                ui.label(ctx.t("top_slices")).classes("text-xs text-gray-500")
                for text in slices:
                    ui.label(text).classes("text-xs text-gray-800")
        with ui.row().classes("items-center gap-1 text-xs text-gray-600"):
            ui.icon("person").classes("text-sm")
            ui.label(inc.owner_name or "–")
            ui.label("·")
            ui.label(local_time(ctx.ml, inc.triggered_at))


@page("/incidents", nav="incidents", action=Action.incident_read)
def board_page(ctx: PageContext, owner: str | None = None, team: str | None = None,
               severity: str | None = None) -> None:
    section_title(ctx.t("board_title"))
    full = build_board(ctx.ml, ctx.principal, ctx.locale)
    state = {"owner": owner, "team": team, "severity": severity}
    with ui.row().classes("w-full items-center gap-3"):
        owners = {"": ctx.t("all_owners"), **full.owners}
        teams = {"": ctx.t("all_teams"), **full.teams}
        sevs = {"": ctx.t("all_severities"), **{s: ctx.t(f"sev_{s}") for s in ("critical", "high", "medium", "low")}}
        f_owner = ui.select(owners, value=owner or "", label=ctx.t("col_owner")) \
            .props('dense outlined data-testid="filter-owner"').classes("w-44")
        f_team = ui.select(teams, value=team or "", label=ctx.t("team")) \
            .props('dense outlined data-testid="filter-team"').classes("w-44")
        f_sev = ui.select(sevs, value=severity or "", label=ctx.t("severity")) \
            .props('dense outlined data-testid="filter-severity"').classes("w-40")
        ui.label(ctx.t("board_hint")).classes("text-xs text-gray-500")
    columns = ui.row().classes("w-full gap-2 items-start no-wrap")

    def draw() -> None:
        b = build_board(ctx.ml, ctx.principal, ctx.locale, owner=state["owner"] or None, team=state["team"] or None,
                        severity=state["severity"] or None)
        columns.clear()
        explained = explanations(ctx.ml, [inc.number for col in b.columns for inc in col.items[:50]])
        with columns:
            for col in b.columns:
                with ui.column().classes("flex-1 min-w-0 gap-2 bg-gray-200/60 rounded-lg p-2") \
                        .props(f'data-testid="column-{col.status}"'):
                    with ui.row().classes("w-full items-center justify-between"):
                        ui.label(col.label).classes("font-semibold text-gray-700")
                        ui.badge(str(col.count)).props("color=grey-6")
                    for inc in col.items[:50]:
                        _card(ctx, inc, explained.get(inc.number))
                    if not col.items:
                        ui.label(ctx.t("nothing_here")).classes("text-xs text-gray-400")

    def on_filter(key: str, value: Any) -> None:
        state[key] = value or None
        draw()

    f_owner.on_value_change(lambda e: on_filter("owner", e.value))
    f_team.on_value_change(lambda e: on_filter("team", e.value))
    f_sev.on_value_change(lambda e: on_filter("severity", e.value))
    draw()


# ---------------------------------------------------------------------------------- one incident
EVENT_KEYS = {"opened", "alert", "transition", "assign", "escalate", "comment", "action", "ack_sla_breached",
              "resolve_sla_breached", "action_overdue", "review_overdue", "channel_broken", "dead",
              "effect_verified", "review", "delivered", "fallback", "silence_ended"}


def _event_line(ctx: PageContext, e: Any) -> str:
    """One timeline entry in words: who did what."""
    key = f"ev_{e.kind}"
    what = ctx.t(key) if e.kind in EVENT_KEYS and key in T else e.kind
    after = e.after or {}
    if e.kind == "transition":
        from metricloop.workflow.lifecycle import STATE_LABELS

        before = (e.before or {}).get("status")
        target = after.get("status")
        if before in STATE_LABELS and target in STATE_LABELS:
            what += f"：{STATE_LABELS[before].render(ctx.locale)} → {STATE_LABELS[target].render(ctx.locale)}"
    elif e.kind == "assign":
        what += f"：{scope.person_name(ctx.ml, after.get('owner'))}"
    elif e.kind == "escalate":
        what += f"：L{after.get('escalation_level')} → {scope.person_name(ctx.ml, after.get('to'))}"
    elif e.kind == "action" and after.get("title"):
        what += f"：{after['title']}"
    elif e.kind == "action" and after.get("status"):
        what += f"：{ctx.t('action_status_' + str(after['status']))}"
    elif e.kind == "opened":
        what += f"：{scope.person_name(ctx.ml, after.get('owner'))}"
    elif e.kind == "effect_verified":
        what += f"：{ctx.t('verdict_' + str(after.get('verdict')))}"
    return what


def _explanation(ctx: PageContext, inc: IncidentDetail) -> None:
    with ui.card().classes("w-full").props('data-testid="explanation"'):
        ui.label(ctx.t("why_title")).classes("font-semibold")
        if inc.explanation_id is None:
            ui.label(ctx.t("no_explanation")).classes("text-sm text-gray-500")
            return
        try:
            e = scope.explanation(ctx.ml, ctx.principal, inc.explanation_id)
        except NotFoundError:
            ui.label(ctx.t("no_explanation")).classes("text-sm text-gray-500")
            return
        explanation_body(ctx, e, inc.metric)


def explanation_body(ctx: PageContext, e: dict[str, Any], metric: str) -> None:
    """Summary, top causes and the metric-tree split of one explanation (also used on the metric page)."""
    summary = (e.get("summary") or {}).get(ctx.locale) or (e.get("summary") or {}).get("en") or ""
    ui.label(summary).classes("text-sm text-gray-800").props('data-testid="explanation-summary"')
    ui.label(ctx.t("explain_period", start=local_time(ctx.ml, e["period"]["start"]),
                   baseline=local_time(ctx.ml, e["baseline"]["start"]))).classes("text-xs text-gray-500")
    causes = ((e.get("localization") or {}).get("causes") or [])[:5]
    if causes:
        ui.label(ctx.t("top_causes")).classes("text-sm font-semibold mt-2")
        rows = [{"element": element_text(ctx, c["element"]),
                 "actual": metric_value(ctx.ml, metric, c.get("actual")),
                 "expected": metric_value(ctx.ml, metric, c.get("expected")),
                 "change": f"{c['relative_change']:+.0%}" if c.get("relative_change") is not None else "–",
                 "contribution": f"{c['contribution']:.0%}" if c.get("contribution") is not None else "–"}
                for c in causes]
        cols = [{"name": k, "label": ctx.t(f"cause_{k}"), "field": k, "align": "left" if k == "element" else "right"}
                for k in ("element", "actual", "expected", "change", "contribution")]
        ui.table(columns=cols, rows=rows, row_key="element").props('flat dense data-testid="cause-table"') \
            .classes("w-full")
    else:
        text = ((e.get("localization") or {}).get("summary") or {}).get(ctx.locale)
        ui.label(text or ctx.t("no_causes")).classes("text-sm text-gray-500")
    attribution = e.get("attribution")
    if attribution and attribution.get("drivers"):
        ui.label(ctx.t("tree_split")).classes("text-sm font-semibold mt-2")
        drivers = attribution["drivers"]
        ui.label(ctx.t("tree_split_hint", metric=ctx.ml.workflow.metric_label(metric, ctx.locale))) \
            .classes("text-xs text-gray-500")
        names = [ctx.ml.workflow.metric_label(d["name"], ctx.locale) for d in drivers]
        effects = [round(float(d.get("effect") or 0.0), 6) for d in drivers]
        m = ctx.ml.catalog.metrics.get(metric)
        fmt = _value_formatter(m) if m else "v => v"
        ui.echart({
            "animation": False,
            "grid": {"left": 100, "right": 70, "top": 10, "bottom": 24},
            "xAxis": {"type": "value", "axisLabel": {":formatter": fmt}},
            "yAxis": {"type": "category", "data": names[::-1]},
            "tooltip": {"trigger": "axis", ":valueFormatter": fmt},
            "series": [{"type": "bar", "data": [{"value": v, "itemStyle": {"color": "#2563eb" if v >= 0 else "#f97316"}}
                                                for v in effects[::-1]],
                        "label": {"show": True, "position": "right", ":formatter": f"p => ({fmt})(p.value)"}}],
        }).classes("w-full").style(f"height:{60 + 34 * len(drivers)}px").props('data-testid="tree-chart"')
        for d, name in zip(drivers, names, strict=True):
            share = ctx.t("driver_share", share=f"{d['share']:.0%}") if d.get("share") is not None else ""
            ui.label(f"{name}：{metric_value(ctx.ml, d['name'], d.get('before'))} → "
                     f"{metric_value(ctx.ml, d['name'], d.get('after'))}{share}").classes("text-xs text-gray-600")


def _verification(ctx: PageContext, inc: IncidentDetail) -> None:
    with ui.card().classes("w-full").props('data-testid="verification"'):
        ui.label(ctx.t("verification_title")).classes("font-semibold")
        fixed = any(a.status == "done" for a in inc.actions) or inc.resolved_at is not None
        if not fixed:
            ui.label(ctx.t("verification_later")).classes("text-sm text-gray-500")
            return
        try:
            with acting_as(ctx.principal):
                series = ctx.ml.review.effect_series(inc.id)
            checks = ctx.ml.review.effects(inc.id)
        except MetricLoopError as exc:
            ui.label(exc.localized(ctx.locale)).classes("text-sm text-gray-500")
            return
        for c in checks[-3:]:
            verdict = ctx.t("verdict_" + c["verdict"])
            extra = f" · {c['summary']}" if c.get("summary") and c["summary"] != verdict else ""
            ui.label(f"{local_time(ctx.ml, c['checked_at'])} · {verdict}{extra}").classes("text-sm") \
                .props('data-testid="verdict"')
        if not series["timestamps"]:
            ui.label(ctx.t("no_verification_data")).classes("text-sm text-gray-500")
            return
        m = ctx.ml.catalog.metrics.get(inc.metric)
        stamps = [dt.datetime.fromisoformat(t) for t in series["timestamps"]]
        effective = dt.datetime.fromisoformat(series["effective_at"])
        nearest = min(range(len(stamps)), key=lambda i: abs((stamps[i] - effective).total_seconds()))
        stamps = [wall_clock(t, ctx.ml.project.tz) for t in stamps]  # the one timezone rule
        days = [t.strftime("%m-%d %H:%M") for t in stamps]
        ui.echart({
            "animation": False,
            "legend": {"data": [ctx.t("actual"), ctx.t("last_week")], "top": 0, "right": 10},
            "tooltip": {"trigger": "axis", **({":valueFormatter": _value_formatter(m)} if m else {})},
            "grid": {"left": 64, "right": 20, "top": 30, "bottom": 30},
            "xAxis": {"type": "category", "data": days, "name": offset(stamps[-1])},
            "yAxis": {"type": "value", "scale": True},
            "series": [
                {"type": "line", "name": ctx.t("actual"), "data": series["actual"], "itemStyle": {"color": "#2563eb"},
                 "markLine": {"symbol": "none", "data": [{"xAxis": days[nearest]}],
                              "label": {"formatter": ctx.t("fix_effective")}, "lineStyle": {"color": "#16a34a"}}},
                {"type": "line", "name": ctx.t("last_week"), "data": series["expected"],
                 "lineStyle": {"type": "dashed"}, "itemStyle": {"color": "#9ca3af"}},
            ],
        }).classes("w-full h-64")


def _similar(ctx: PageContext, inc: IncidentDetail) -> None:
    with ui.card().classes("w-full").props('data-testid="similar-cases"'):
        ui.label(ctx.t("similar_cases")).classes("font-semibold")
        rows = [c for c in ctx.ml.review.similar(inc.id, limit=50)
                if scope.sees(ctx.ml, ctx.principal, c["metric"], c.get("slice"))][:4]
        if not rows:
            ui.label(ctx.t("no_similar")).classes("text-sm text-gray-500")
        for c in rows:
            with ui.column().classes("gap-0 w-full"):
                title = record_title(ctx.ml, c["metric"], c.get("slice"), ctx.locale)
                ui.link(f"{c['incident']} · {title}", f"/reviews/{c['incident'].removeprefix('INC-')}") \
                    .classes("text-sm")
                if c.get("root_cause"):  # a case text written in both languages: the reader's only
                    ui.label(one_language(str(c["root_cause"]), ctx.locale)[:140]).classes("text-xs text-gray-600") \
                        .props('data-testid="similar-root-cause"')
                verdicts = [a.get("verdict") for a in c.get("actions") or [] if a.get("verdict")]
                if verdicts:
                    ui.label(f"{ctx.t('what_worked')}: {ctx.t('verdict_' + verdicts[0])}").classes("text-xs")


@page("/incidents/{incident_id}", nav="incidents", action=Action.incident_read)
def incident_page(ctx: PageContext, incident_id: str) -> None:
    body = ui.column().classes("w-full gap-4")

    def act(action: str, comment: str | None = None) -> None:
        try:
            ctx.ml.workflow.act(f"INC-{incident_id}", action, actor=ctx.principal.username, comment=comment)
        except MetricLoopError as exc:
            ui.notify(exc.localized(ctx.locale), type="negative")
            return
        ui.notify(ctx.t("done_action", action=ctx.t("act_" + action)), type="positive")
        draw()

    def reassign(owner: str | None) -> None:
        if not owner:
            return
        try:
            ctx.ml.workflow.assign(f"INC-{incident_id}", owner, actor=ctx.principal.username)
        except MetricLoopError as exc:
            ui.notify(exc.localized(ctx.locale), type="negative")
            return
        ui.notify(ctx.t("reassigned", name=scope.person_name(ctx.ml, owner)), type="positive")
        draw()

    def ask_duplicate(inc: IncidentDetail) -> None:
        choices = duplicate_candidates(ctx.ml, ctx.principal, inc.model_dump(), ctx.locale)
        with ui.dialog() as dialog, ui.card().classes("w-[560px]"):
            ui.label(ctx.t("act_duplicate")).classes("text-lg font-semibold")
            ui.label(ctx.t("duplicate_hint")).classes("text-sm text-gray-600")
            target = ui.select(choices, label=ctx.t("duplicate_of"), with_input=True) \
                .props('outlined data-testid="duplicate-of"').classes("w-full")
            if not choices:
                ui.label(ctx.t("no_other_incidents")).classes("text-sm text-gray-500")

            def ok() -> None:
                if not target.value:
                    ui.notify(ctx.t("pick_incident"), type="warning")
                    return
                dialog.close()
                try:
                    ctx.ml.workflow.act(f"INC-{incident_id}", "duplicate", actor=ctx.principal.username,
                                        duplicate_of=target.value)
                except MetricLoopError as exc:
                    ui.notify(exc.localized(ctx.locale), type="negative")
                    return
                ui.notify(ctx.t("done_action", action=ctx.t("act_duplicate")), type="positive")
                draw()

            with ui.row().classes("w-full justify-end"):
                ui.button(ctx.t("cancel"), on_click=dialog.close).props("flat")
                ui.button(ctx.t("confirm"), on_click=ok).props('data-testid="confirm-duplicate"')
        dialog.open()

    def ask_comment(action: str) -> None:
        with ui.dialog() as dialog, ui.card().classes("w-[460px]"):
            ui.label(ctx.t("act_" + action)).classes("text-lg font-semibold")
            text = ui.textarea(ctx.t("comment_needed")).props('outlined data-testid="action-comment"') \
                .classes("w-full")

            def ok() -> None:
                dialog.close()
                act(action, text.value)

            with ui.row().classes("w-full justify-end"):
                ui.button(ctx.t("cancel"), on_click=dialog.close).props("flat")
                ui.button(ctx.t("confirm"), on_click=ok).props('data-testid="confirm-action"')
        dialog.open()

    def draw() -> None:
        body.clear()
        try:
            inc = detail(ctx.ml, scope.incident(ctx.ml, ctx.principal, f"INC-{incident_id}"), ctx.locale)
        except MetricLoopError:
            with body:
                ui.label(f"{ctx.t('not_found')}: INC-{incident_id}").classes("text-lg")
            return
        with body:
            _header(ctx, inc, act, ask_comment)
            _handover(ctx, inc, reassign, ask_duplicate)
            with ui.row().classes("w-full gap-4 items-start no-wrap"):
                with ui.column().classes("grow gap-4 min-w-0"):
                    _what(ctx, inc)
                    _explanation(ctx, inc)
                    _verification(ctx, inc)
                with ui.column().classes("w-[420px] shrink-0 gap-4"):
                    _actions(ctx, inc, draw)
                    _timeline(ctx, inc, draw)
                    _similar(ctx, inc)

    draw()


def _header(ctx: PageContext, inc: IncidentDetail, act: Any, ask_comment: Any) -> None:
    with ui.row().classes("w-full items-center gap-3"):
        ui.label(f"{inc.id} · {inc.metric_label}").classes("text-2xl font-bold").props('data-testid="incident-title"')
        severity_badge(ctx, inc.severity)
        status_badge(ctx, inc.status, inc.status_label).props('data-testid="incident-status"')
        if inc.overdue:
            ui.badge(ctx.t("overdue")).props("color=red-9")
    sl = slice_text(inc.slice, ctx.ml, ctx.locale)
    with ui.row().classes("items-center gap-4 text-sm text-gray-700"):
        if sl:
            ui.label(sl)
        ui.label(f"{ctx.t('col_owner')}：{inc.owner_name or '–'}").props('data-testid="incident-owner"')
        if inc.routing_reason:  # why this owner: the owners.yaml rule and the cause it matched
            ui.icon("help_outline").classes("text-gray-500").tooltip(inc.routing_reason) \
                .props('data-testid="incident-owner-why"')
        if len(inc.metrics) > 1:
            ui.label(f"{ctx.t('incident_metrics')}：{', '.join(inc.metrics)}")
        if inc.team_name:
            ui.label(f"{ctx.t('team')}：{inc.team_name}")
        ui.label(f"{ctx.t('triggered_at')}：{local_time(ctx.ml, inc.triggered_at)}")
        if inc.status == "triggered" and inc.ack_due_at:
            ui.label(f"{ctx.t('ack_due')}：{local_time(ctx.ml, inc.ack_due_at)}")
        elif inc.resolve_due_at and inc.status not in ("closed", "false_positive", "duplicate"):
            ui.label(f"{ctx.t('resolve_due')}：{local_time(ctx.ml, inc.resolve_due_at)}")
    if not ctx.principal.can(Action.incident_act):
        return
    with ui.row().classes("gap-2"):
        for action in ACTION_ORDER:
            if action not in inc.allowed_actions:
                continue
            primary = action in ("ack", "resolve", "close")
            handler = (lambda _=None, a=action: ask_comment(a)) if action in NEEDS_COMMENT \
                else (lambda _=None, a=action: act(a))
            ui.button(ctx.t("act_" + action), on_click=handler) \
                .props(f'{"" if primary else "outline"} data-testid="act-{action}"')
        if inc.status in ("verifying", "closed") or inc.has_review:
            ui.button(ctx.t("write_review"), icon="edit_note",
                      on_click=lambda: ui.navigate.to(f"/reviews/{inc.number}")) \
                .props('color=green-8 data-testid="open-review"')


def _handover(ctx: PageContext, inc: IncidentDetail, reassign: Any, ask_duplicate: Any) -> None:
    """Hand the incident to another person of owners.yaml (by name), or close it as a duplicate."""
    if not ctx.principal.can(Action.incident_act) or inc.status in ("closed", "false_positive", "duplicate"):
        if inc.duplicate_of:
            ui.link(ctx.t("duplicate_of_link", ref=inc.duplicate_of),
                    f"/incidents/{inc.duplicate_of.removeprefix('INC-')}").props('data-testid="duplicate-link"')
        return
    people = people_options(ctx.ml, ctx.locale)
    with ui.row().classes("items-center gap-2"):
        owner = ui.select(people, value=inc.owner if inc.owner in people else None, label=ctx.t("reassign_to"),
                          with_input=True).props('dense outlined data-testid="reassign-owner"').classes("w-56")
        ui.button(ctx.t("reassign"), icon="forward_to_inbox", on_click=lambda: reassign(owner.value)) \
            .props('outline dense data-testid="reassign"')
        if "duplicate" in inc.allowed_actions:
            ui.button(ctx.t("act_duplicate"), icon="content_copy", on_click=lambda: ask_duplicate(inc)) \
                .props('outline dense color=grey-8 data-testid="act-duplicate"')


def _what(ctx: PageContext, inc: IncidentDetail) -> None:
    metric = ctx.ml.catalog.metrics.get(inc.metric)
    with ui.card().classes("w-full"):
        ui.label(ctx.t("what_happened")).classes("font-semibold")
        with ui.row().classes("gap-8 items-end"):
            for key, value in (("actual", inc.actual), ("expected", inc.expected)):
                with ui.column().classes("gap-0"):
                    ui.label(ctx.t(key)).classes("text-xs text-gray-500")
                    ui.label(metric_value(ctx.ml, inc.metric, value)).classes("text-2xl font-bold") \
                        .props(f'data-testid="incident-{key}"')
            if inc.actual is not None and inc.expected:
                pct = (inc.actual - inc.expected) / abs(inc.expected)
                tone = change_tone(metric, pct) if metric else "neutral"
                color = {"good": "text-green-700", "bad": "text-red-700"}.get(tone, "text-gray-700")
                ui.label(f"{pct:+.1%}").classes(f"text-lg font-semibold {color}")
        start, end = local_time(ctx.ml, inc.window_start), local_time(ctx.ml, inc.window_end)
        ui.label(ctx.t("window", start=start, end=end) if start != end else ctx.t("window_one", start=start)) \
            .classes("text-xs text-gray-500")
        for a in inc.alerts[:5]:
            where = slice_text(a.slice, ctx.ml, ctx.locale) or ctx.t("whole_metric")
            band = ctx.t("normal_range", lower=metric_value(ctx.ml, a.metric, a.lower),
                         upper=metric_value(ctx.ml, a.metric, a.upper)) if a.lower is not None else ""
            said = ctx.t("actual_vs_expected", actual=metric_value(ctx.ml, a.metric, a.actual),
                         expected=metric_value(ctx.ml, a.metric, a.expected))
            colon, comma = ("：", "，") if ctx.locale == "zh-CN" else (": ", ", ")
            ui.label(f"• {where}{colon}{said}{comma + band if band else ''}") \
                .classes("text-xs text-gray-600")
            try:
                grain = ctx.ml.detection.monitor(a.monitor).spec.grain.value
            except MetricLoopError:
                grain = "hour"
            window_chart(ctx, a.metric, a.slice, grain, a.start, a.end)


def _actions(ctx: PageContext, inc: IncidentDetail, redraw: Any) -> None:
    with ui.card().classes("w-full").props('data-testid="action-items"'):
        ui.label(ctx.t("action_items")).classes("font-semibold")
        if not inc.actions:
            ui.label(ctx.t("no_actions")).classes("text-sm text-gray-500")
        for a in inc.actions:
            with ui.row().classes("w-full items-center justify-between no-wrap"):
                with ui.column().classes("gap-0 min-w-0"):
                    ui.label(a.title).classes("text-sm font-medium")
                    by_when = f" · {ctx.t('due')} {local_time(ctx.ml, a.due_at)}" if a.due_at else ""
                    ui.label(f"{a.owner_name or '–'} · {ctx.t('action_status_' + a.status)}{by_when}") \
                        .classes("text-xs text-gray-600")
                if a.status in ("open", "in_progress") and ctx.principal.can(Action.incident_act):
                    def done(_: Any = None, aid: int = a.id) -> None:
                        ctx.ml.workflow.update_action(aid, actor=ctx.principal.username, status="done")
                        redraw()

                    ui.button(ctx.t("mark_done"), on_click=done).props("dense flat color=green-8")
        if not ctx.principal.can(Action.incident_act) or inc.status in ("closed", "false_positive", "duplicate"):
            return
        people = {pid: p.name for pid, p in sorted(ctx.ml.workflow.owners.people.items())}
        with ui.expansion(ctx.t("add_action"), icon="add_task").classes("w-full").props('data-testid="add-action"'):
            title = ui.input(ctx.t("action_title")).props('dense outlined data-testid="action-title"').classes("w-full")
            owner = ui.select(people, value=inc.owner if inc.owner in people else None, label=ctx.t("col_owner")) \
                .props("dense outlined").classes("w-full")
            due = ui.input(ctx.t("due_date"), value=(dt.date.today() + dt.timedelta(days=1)).isoformat()) \
                .props("dense outlined type=date").classes("w-full")
            effect = ui.input(ctx.t("expected_effect")).props("dense outlined").classes("w-full")

            def add() -> None:
                if not (title.value or "").strip():
                    ui.notify(ctx.t("action_title_needed"), type="warning")
                    return
                try:
                    when = dt.datetime.fromisoformat(due.value) + dt.timedelta(hours=18) if due.value else None
                    ctx.ml.workflow.add_action(inc.id, title.value.strip(), actor=ctx.principal.username,
                                               owner=owner.value, due=when, expected_effect=effect.value or None)
                except (MetricLoopError, ValueError) as exc:
                    ui.notify(exc.localized(ctx.locale) if isinstance(exc, MetricLoopError) else str(exc),
                              type="negative")
                    return
                ui.notify(ctx.t("action_added"), type="positive")
                redraw()

            ui.button(ctx.t("add"), on_click=add).props('data-testid="save-action"')


def _timeline(ctx: PageContext, inc: IncidentDetail, redraw: Any) -> None:
    with ui.card().classes("w-full").props('data-testid="timeline"'):
        ui.label(ctx.t("timeline")).classes("font-semibold")
        if ctx.principal.can(Action.incident_act):
            with ui.row().classes("w-full items-end no-wrap gap-2"):
                text = ui.input(ctx.t("add_comment")).props('dense outlined data-testid="comment-text"') \
                    .classes("grow")

                def send() -> None:
                    if (text.value or "").strip():
                        ctx.ml.workflow.comment(inc.id, text.value.strip(), actor=ctx.principal.username)
                        redraw()

                ui.button(icon="send", on_click=send).props('dense flat data-testid="comment-send"')
        with ui.column().classes("w-full gap-1 max-h-[420px] overflow-y-auto"):
            for e in reversed(inc.timeline):
                with ui.row().classes("w-full no-wrap gap-2 items-start"):
                    ui.label(local_time(ctx.ml, e.at)).classes("text-xs text-gray-500 w-28 shrink-0")
                    with ui.column().classes("gap-0 min-w-0"):
                        who = ctx.t("system") if e.actor == "system" else e.actor_name
                        ui.label(f"{who} · {_event_line(ctx, e)}").classes("text-sm")
                        if e.comment:
                            ui.label(e.comment).classes("text-xs text-gray-600 whitespace-pre-line")
