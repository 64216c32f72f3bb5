"""The monitor editor: pick a monitor (or start a new one), edit its YAML, preview on the past
data what it would have fired — the series, the expected band and the anomaly markers — and
only then save it (as a revision; monitors in files are edited in the project)."""

from __future__ import annotations

from typing import Any

import yaml
from nicegui import run, ui

from metricloop.access.context import acting_as
from metricloop.access.policy import Principal, readable
from metricloop.access.roles import Action
from metricloop.detect.monitors import definition
from metricloop.errors import MetricLoopError
from metricloop.service import MetricLoop
from metricloop.ui.layout import PageContext, page, section_title
from metricloop.views.monitors import default_window
from metricloop.workflow.bands import bounded_backtest, metric_bounds

NEW = "__new__"
TEMPLATE = """name: my_monitor
description: 成交额按地区逐日监控 · GMV per region, daily
metric: gmv
by: [region]
grain: day
schedule: "0 9 * * *"
detectors:
  - type: seasonal
    params: {warning: 4, critical: 6}
noise:
  min_rel_deviation: 0.1
"""


def _duration(value: Any) -> Any:
    """``PT1H`` (how a stored definition serializes a delay) → ``1h`` (how people write it)."""
    import datetime as dt

    from pydantic import TypeAdapter, ValidationError

    if not isinstance(value, str) or not value.startswith("P"):
        return value
    try:
        seconds = int(TypeAdapter(dt.timedelta).validate_python(value).total_seconds())
    except ValidationError:
        return value
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def monitor_yaml(data: dict[str, Any]) -> str:
    """A definition as the YAML people write in monitors/*.yaml."""
    body = {k: _duration(v) for k, v in data.items()}
    return yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=1000)


def backtest_as(ml: MetricLoop, principal: Principal, text: str, locale: str) -> dict[str, Any]:
    """Validate the YAML and backtest it over its default window, as the user (row policies apply)."""
    with acting_as(principal):
        spec = ml.detection.validate(text)
        ml.access.require_metric(principal, spec.metric)
        start, end = default_window(ml, spec)
        result = ml.detection.backtest(spec, start, end, max_series=8, locale=locale)
        return bounded_backtest(result, metric_bounds(ml, spec.metric))  # a rate's band within 0–100 %


def backtest_options(ctx: PageContext, result: dict[str, Any], index: int) -> dict[str, Any]:
    """ECharts options: the value, the expected value, the normal band and the anomalies found."""
    s = result["series"][index]
    lower = s["lower"]
    width = [None if lo is None or up is None else round(up - lo, 6) for lo, up in zip(lower, s["upper"], strict=True)]
    marks = [[t, v] for t, v, sev in zip(s["timestamps"], s["value"], s["severity"], strict=True) if sev > 0]
    critical = [[t, v] for t, v, sev in zip(s["timestamps"], s["value"], s["severity"], strict=True) if sev > 1]
    width_of_time = 10 if result["grain"] in ("day", "week", "month") else 16  # dates, or dates and hours

    def when(t: str) -> str:
        return t.replace("T", " ")[:width_of_time]

    x = [when(t) for t in s["timestamps"]]
    marks = [[when(m[0]), m[1]] for m in marks]
    critical = [[when(m[0]), m[1]] for m in critical]
    return {
        "animation": False,
        "legend": {"top": 0, "data": [ctx.t("actual"), ctx.t("expected"), ctx.t("normal_band"), ctx.t("anomalies")]},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 70, "right": 20, "top": 34, "bottom": 60},
        "dataZoom": [{"type": "inside"}, {"type": "slider", "height": 18, "bottom": 8}],
        "xAxis": {"type": "category", "data": x, "boundaryGap": False},
        "yAxis": {"type": "value", "scale": True},
        "series": [
            {"name": "band-base", "type": "line", "data": lower, "stack": "band", "lineStyle": {"opacity": 0},
             "symbol": "none", "tooltip": {"show": False}},
            {"name": ctx.t("normal_band"), "type": "line", "data": width, "stack": "band", "symbol": "none",
             "lineStyle": {"opacity": 0}, "itemStyle": {"color": "#93c5fd"},
             "areaStyle": {"color": "#93c5fd", "opacity": 0.35}},
            {"name": ctx.t("expected"), "type": "line", "data": s["expected"], "symbol": "none",
             "lineStyle": {"type": "dashed", "color": "#6b7280"}, "itemStyle": {"color": "#6b7280"}},
            {"name": ctx.t("actual"), "type": "line", "data": s["value"], "symbol": "none",
             "itemStyle": {"color": "#2563eb"}},
            {"name": ctx.t("anomalies"), "type": "scatter", "data": marks, "symbolSize": 9,
             "itemStyle": {"color": "#f59e0b"}},
            {"name": ctx.t("anomalies"), "type": "scatter", "data": critical, "symbolSize": 12,
             "itemStyle": {"color": "#dc2626"}},
        ],
    }


@page("/monitors", nav="monitors", action=Action.monitor_write)
async def monitors_page(ctx: PageContext) -> None:
    section_title(ctx.t("monitors_title"))
    mons = [m for m in ctx.ml.detection.monitors() if readable(ctx.ml.catalog, ctx.principal, m.spec.metric)]
    found_by = {m.name: len(ctx.ml.detection.anomalies(monitor=m.name, limit=1000)) for m in mons}
    busiest = max(mons, key=lambda m: found_by[m.name]) if mons else None  # open on a monitor that found things
    by_name = {m.name: m for m in mons}
    options = {NEW: ctx.t("new_monitor"),
               **{m.name: f"{m.name} · {ctx.ml.workflow.metric_label(m.spec.metric, ctx.locale)}" for m in mons}}
    state: dict[str, Any] = {"result": None}
    with ui.row().classes("w-full gap-4 items-start no-wrap"):
        with ui.column().classes("w-[460px] shrink-0 gap-2"):
            choose = ui.select(options, value=busiest.name if busiest else NEW, label=ctx.t("monitor")) \
                .props('dense outlined data-testid="monitor-select"').classes("w-full")
            source = ui.label().classes("text-xs text-gray-500")
            editor = ui.textarea().props('outlined autogrow data-testid="monitor-yaml"') \
                .classes("w-full font-mono text-xs")
            with ui.row().classes("gap-2"):
                preview = ui.button(ctx.t("preview_backtest"), icon="insights").props('data-testid="run-backtest"')
                save = ui.button(ctx.t("save_monitor"), icon="save").props('outline data-testid="save-monitor"')
        with ui.column().classes("grow gap-2 min-w-0"):
            summary = ui.label(ctx.t("backtest_hint")).classes("text-sm text-gray-600") \
                .props('data-testid="backtest-summary"')
            pick = ui.select({}, label=ctx.t("series")).props("dense outlined").classes("w-72")
            chart = ui.echart({"series": []}).classes("ml-backtest-chart w-full h-96")
            found = ui.column().classes("w-full gap-1")

    def load(name: str) -> None:
        if name == NEW or name not in by_name:
            editor.value = TEMPLATE
            source.set_text(ctx.t("new_monitor_hint"))
            return
        m = by_name[name]
        editor.value = monitor_yaml(definition(m.spec))
        source.set_text(ctx.t("monitor_in_file", source=m.source or "") if m.origin == "file"
                        else ctx.t("monitor_in_api", source=m.source or ""))

    def draw(index: int) -> None:
        result = state["result"]
        if not result or not result["series"]:
            return
        chart.options.clear()
        chart.options.update(backtest_options(ctx, result, index))
        chart.update()

    async def run_preview() -> None:
        summary.set_text(ctx.t("backtest_running"))
        try:
            result = await run.io_bound(backtest_as, ctx.ml, ctx.principal, editor.value or "", ctx.locale)
        except MetricLoopError as exc:
            summary.set_text(exc.localized(ctx.locale))
            ui.notify(exc.localized(ctx.locale), type="negative", multi_line=True)
            return
        if result is None:
            return
        state["result"] = result
        sm = result["summary"]
        summary.set_text(ctx.t("backtest_summary", events=sm["events"], critical=sm["critical"], warning=sm["warning"],
                               series=sm["series"], start=str(result["start"])[:10], end=str(result["end"])[:10]))
        pick.options = {str(i): s["label"] if s["slice"] else ctx.t("whole_metric")
                        for i, s in enumerate(result["series"])}
        pick.value = "0"
        pick.update()
        draw(0)
        found.clear()
        with found:
            for a in [x for x in result["anomalies"] if x["state"] == "active"][:12]:
                sl = ", ".join(f"{k}={v}" for k, v in a["slice"].items()) or ctx.t("whole_metric")
                ui.label(f"• {str(a['start'])[:16]} · {sl} · {ctx.t('sev_' + a['severity'])} · "
                         f"{a.get('reason_text') or ''}").classes("text-xs text-gray-700")

    def do_save() -> None:
        try:
            saved = ctx.ml.detection.save_monitor(editor.value or "", author=ctx.principal.username)
        except MetricLoopError as exc:
            ui.notify(exc.localized(ctx.locale), type="negative", multi_line=True)
            return
        ui.notify(ctx.t("monitor_saved", name=saved.name, source=saved.source or ""), type="positive")
        ui.navigate.reload()

    choose.on_value_change(lambda e: load(e.value))
    pick.on_value_change(lambda e: draw(int(e.value)) if e.value is not None else None)
    preview.on_click(run_preview)
    save.on_click(do_save)
    load(choose.value)
    if mons:  # show the selected monitor's backtest at once
        await ui.context.client.connected()
        await run_preview()
