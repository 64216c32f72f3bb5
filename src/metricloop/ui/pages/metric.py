"""One metric: 口径, calculation, owners, revisions, tree; the daily trend, and for any day (click a
point) a drill-down by a dimension and the explanation vs the same day last week."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nicegui import events, run, ui

from metricloop.access.context import acting_as
from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.catalog.models import Grain, Metric
from metricloop.detect.staleness import stale_monitors
from metricloop.errors import MetricLoopError, NotFoundError
from metricloop.service import MetricLoop
from metricloop.ui.ask import ask_box
from metricloop.ui.data import (
    DrillRow,
    axis_formatter,
    calculation_text,
    dimension_label,
    drill_dimensions,
    drill_down,
    format_value,
    local_time,
    trend,
    value_formatter,
)
from metricloop.ui.layout import PageContext, page
from metricloop.ui.pages.dictionary import tree_nodes
from metricloop.ui.pages.incidents import explanation_body
from metricloop.ui.texts import unit_text
from metricloop.views.scope import person_name

_axis_formatter = axis_formatter
_value_formatter = value_formatter


def trend_options(metric: Metric, label: str, days: list[str], values: list[float | None]) -> dict[str, Any]:
    return {
        "animation": False,  # the chart is read and clicked at once; no drawing delay
        "tooltip": {"trigger": "axis", ":valueFormatter": _value_formatter(metric)},
        "grid": {"left": 72, "right": 24, "top": 24, "bottom": 36},
        "xAxis": {"type": "category", "data": days, "boundaryGap": False},
        "yAxis": {"type": "value", "scale": True, "axisLabel": {":formatter": _axis_formatter(metric)}},
        "series": [{"type": "line", "name": label, "data": values, "symbol": "circle", "symbolSize": 7,
                    "showAllSymbol": True, "lineStyle": {"width": 2}, "itemStyle": {"color": "#2563eb"},
                    "emphasis": {"scale": 1.6}}],
    }


def explain_day(ml: MetricLoop, principal: Principal, metric: str, day: dt.date) -> dict[str, Any]:
    """Why the metric moved on ``day`` compared with the same day last week, as the user (row
    policies apply inside the queries); stored like any explanation."""
    with acting_as(principal):
        result = ml.explain.explain(metric, at=dt.datetime.combine(day, dt.time()), grain=Grain.day, vs="last_week")
        ml.access.audit(principal.username, "explain", metric, explanation=result.id, day=day.isoformat())
    return result.to_dict()


def _info(label: str, value: str) -> None:
    with ui.row().classes("gap-2 items-baseline no-wrap"):
        ui.label(label).classes("text-xs text-gray-500 w-24 shrink-0")
        ui.label(value).classes("text-sm text-gray-800")


@page("/dictionary/{name}", nav="dictionary")
async def metric_page(ctx: PageContext, name: str) -> None:
    try:
        metric = ctx.ml.access.require_metric(ctx.principal, name)
    except NotFoundError:
        ui.label(f"{ctx.t('not_found')}: {name}").classes("text-lg")
        return
    detail: dict[str, Any] = await run.io_bound(ctx.ml.metric_detail, name) or {}
    label = metric.display_label(ctx.locale)

    with ui.row().classes("items-baseline gap-3"):
        ui.label(label).classes("text-2xl font-bold")
        ui.label(metric.name).classes("text-gray-500")
        ui.badge(ctx.t(f"tier_{metric.tier.value}")).props("color=indigo")
        ui.badge(ctx.t(f"polarity_{metric.polarity.value}")).props("color=grey-7 outline")
    if metric.description:
        ui.label(metric.description.get(ctx.locale)).classes("text-gray-600")
    for stale in await run.io_bound(stale_monitors, ctx.ml.detection, None, metric=name) or []:
        # a monitor that judged nothing because the data stopped must not look like "all clear"
        with ui.row().classes("w-full items-center gap-2 bg-amber-50 border border-amber-300 rounded p-2") \
                .props('data-testid="stale-data"'):
            ui.icon("warning").classes("text-amber-700")
            ui.label(f"{ctx.t('stale_title')}: {stale.render(ctx.locale)}").classes("text-sm text-amber-900")

    with ui.row().classes("w-full gap-4 items-start no-wrap"):
        with ui.column().classes("w-[380px] shrink-0 gap-4"):
            with ui.card().classes("w-full"):
                ui.label(ctx.t("definition")).classes("font-semibold")
                ui.label(metric.business_definition.get(ctx.locale) if metric.business_definition else "–") \
                    .classes("text-sm text-gray-800").props('data-testid="business-definition"')
                ui.separator()
                _info(ctx.t("formula"), calculation_text(ctx.ml, metric, ctx.locale))
                business = ", ".join(person_name(ctx.ml, p) for p in metric.owners.business) or "–"
                technical = ", ".join(person_name(ctx.ml, p) for p in metric.owners.technical) or "–"
                _info(ctx.t("owners"),
                      f"{ctx.t('business_owner')}: {business} · {ctx.t('technical_owner')}: {technical}")
                _info(ctx.t("col_unit"), unit_text(metric.unit, ctx.locale))
                _info(ctx.t("col_synonyms"), ", ".join(metric.synonyms) or "–")
                _info(ctx.t("dimensions"), ", ".join(dimension_label(ctx.ml, d, ctx.locale)
                                                     for d in drill_dimensions(ctx.ml, name)) or "–")
                _info(ctx.t("source"), detail["source"] or "–")
            with ui.card().classes("w-full"):
                ui.label(ctx.t("revisions")).classes("font-semibold")
                rows = [{"version": r["version"], "change": r["change"], "author": r["author"] or "",
                         "reason": r["reason"] or "", "time": local_time(ctx.ml, r["created_at"])}
                        for r in reversed(detail["revisions"])]
                cols = [{"name": k, "label": ctx.t(f"{k}_col"), "field": k, "align": "left"}
                        for k in ("version", "change", "author", "reason", "time")]
                ui.table(columns=cols, rows=rows, row_key="version").props("flat dense").classes("w-full")
            with ui.card().classes("w-full"):
                ui.label(ctx.t("metric_tree")).classes("font-semibold")
                ui.tree(tree_nodes(ctx, name), label_key="label", node_key="id",
                        on_select=lambda e: ui.navigate.to(f"/dictionary/{str(e.value).split('#')[0]}")
                        if e.value else None).expand()

        with ui.column().classes("grow gap-4"):
            dims = drill_dimensions(ctx.ml, name)
            dim_options = {d: dimension_label(ctx.ml, d, ctx.locale) for d in dims}
            first_dim = dims[0] if dims else None
            ask_box(ctx, name)
            with ui.card().classes("w-full"):
                with ui.row().classes("w-full items-center justify-between"):
                    ui.label(ctx.t("trend")).classes("font-semibold")
                    dim_select = ui.select(dim_options, value=first_dim, label=ctx.t("drill_by")) \
                        .props('dense outlined data-testid="drill-dimension"').classes("w-48")
                ui.label(ctx.t("trend_hint", dim=dim_options.get(first_dim or "", ""))) \
                    .classes("text-xs text-gray-500")
                chart = ui.echart(trend_options(metric, label, [], [])).classes("ml-trend-chart w-full h-80")
            drill_card = ui.card().classes("w-full").props('data-testid="drill-panel"')
            with drill_card:
                ui.label(ctx.t("drill_empty")).classes("text-sm text-gray-500")
            explain_card = ui.card().classes("w-full").props('data-testid="explain-panel"')
            with explain_card:
                ui.label(ctx.t("explain_title")).classes("font-semibold")
                ui.label(ctx.t("explain_hint") if ctx.principal.can(Action.explain) else ctx.t("explain_not_allowed")) \
                    .classes("text-sm text-gray-500")

    state: dict[str, Any] = {"day": None}

    async def show_drill() -> None:
        day, dim = state["day"], dim_select.value
        if day is None or dim is None:
            return
        try:
            rows = await run.io_bound(drill_down, ctx.ml, ctx.principal, name, dt.date.fromisoformat(day), dim)
        except MetricLoopError as exc:
            ui.notify(ctx.t("error", message=exc.localized(ctx.locale)), type="negative")
            return
        drill_card.clear()
        with drill_card:
            _drill(ctx, metric, label, day, dim_options.get(dim, dim), rows or [])

    async def show_explanation() -> None:
        day = state["day"]
        if day is None or not ctx.principal.can(Action.explain):
            return
        explain_card.clear()
        with explain_card:
            ui.label(ctx.t("explain_title_day", day=day)).classes("font-semibold")
            spinner = ui.spinner()
        try:
            result = await run.io_bound(explain_day, ctx.ml, ctx.principal, name, dt.date.fromisoformat(day))
        except MetricLoopError as exc:
            spinner.delete()
            with explain_card:
                ui.label(exc.localized(ctx.locale)).classes("text-sm text-red-700")
            return
        if result is None:
            return
        spinner.delete()
        with explain_card:
            explanation_body(ctx, result, name)

    async def on_point(e: events.EChartPointClickEventArguments) -> None:
        state["day"] = e.name
        await show_drill()
        await show_explanation()

    chart.on_point_click(on_point)
    dim_select.on_value_change(show_drill)

    await ui.context.client.connected()
    try:
        series = await run.io_bound(trend, ctx.ml, ctx.principal, name)
    except MetricLoopError as exc:
        ui.notify(ctx.t("error", message=exc.localized(ctx.locale)), type="negative")
        return
    if series is None:
        return
    chart.options.update(trend_options(metric, label, series.days, series.values))
    chart.update()


def _drill(ctx: PageContext, metric: Metric, label: str, day: str, dim_label: str, rows: list[DrillRow]) -> None:
    ui.label(ctx.t("drill_title", metric=label, day=day, dim=dim_label)).classes("font-semibold") \
        .props('data-testid="drill-title"')
    members = [r.member for r in rows][::-1]
    deltas = [r.delta for r in rows][::-1]
    ui.echart({
        "animation": False,
        "grid": {"left": 90, "right": 30, "top": 10, "bottom": 40},
        "tooltip": {"trigger": "axis", ":valueFormatter": _value_formatter(metric)},
        "xAxis": {"type": "value", "name": ctx.t("change_vs_prev"), "nameLocation": "middle", "nameGap": 26},
        "yAxis": {"type": "category", "data": members},
        "series": [{"type": "bar", "data": [
            {"value": d, "itemStyle": {"color": "#16a34a" if (d or 0) >= 0 else "#dc2626"}} for d in deltas]}],
    }).classes("w-full").style(f"height:{max(160, 28 * len(rows) + 40)}px")
    cols = [
        {"name": "member", "label": dim_label, "field": "member", "align": "left"},
        {"name": "value", "label": ctx.t("value"), "field": "value", "align": "right"},
        {"name": "share", "label": ctx.t("share"), "field": "share", "align": "right"},
        {"name": "delta", "label": ctx.t("change_vs_prev"), "field": "delta", "align": "right"},
        {"name": "pct", "label": "%", "field": "pct", "align": "right"},
    ]
    table_rows = [{"member": r.member, "value": format_value(metric, r.value),
                   "share": f"{r.share:.1%}" if r.share is not None else "–",
                   "delta": ("+" if (r.delta or 0) > 0 else "") + format_value(metric, r.delta),
                   "pct": f"{r.pct:+.1%}" if r.pct is not None else "–"} for r in rows]
    ui.table(columns=cols, rows=table_rows, row_key="member").props('flat dense data-testid="drill-table"') \
        .classes("w-full")
