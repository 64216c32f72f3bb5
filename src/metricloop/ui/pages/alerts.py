"""The alerts inbox: what the monitors found, newest first, with feedback buttons (a real problem,
expected, a false alarm, a new normal) that the monitors learn from."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from metricloop.access.roles import Action
from metricloop.errors import MetricLoopError
from metricloop.ui.data import (
    SEVERITY_COLOR,
    anomaly_window,
    local_time,
    metric_value,
    slice_text,
    sparkline_svg,
)
from metricloop.ui.layout import PageContext, page, section_title
from metricloop.views import anomalies, scope
from metricloop.workflow.bands import clamp, metric_bounds

LABELS = ("confirmed", "expected", "false_alarm", "new_normal")
LABEL_COLOR = {"confirmed": "red-7", "expected": "blue-grey-6", "false_alarm": "grey-7", "new_normal": "teal-7"}


def window_chart(ctx: PageContext, metric: str, slice_: dict[str, Any], grain: str, start: Any, end: Any) -> None:
    """A small picture of what happened: the slice around the anomaly, abnormal periods shaded."""
    try:
        w = anomaly_window(ctx.ml, ctx.principal, metric, slice_, grain, start, end)
    except MetricLoopError:  # the metric cannot be read by this user or any more: no picture
        return
    if any(v is not None for v in w.values):
        ui.html(sparkline_svg(w.values, width=320, height=48, color="#1d4ed8", shade=w.shade,
                              testid="alert-window")).tooltip(ctx.t("window_hint"))


@page("/alerts", nav="alerts", action=Action.incident_read)
def alerts_page(ctx: PageContext) -> None:
    section_title(ctx.t("alerts_title"))
    monitors = {"": ctx.t("all_monitors"), **{m.name: m.name for m in ctx.ml.detection.monitors()}}
    with ui.row().classes("w-full items-center gap-3"):
        f_monitor = ui.select(monitors, value="", label=ctx.t("monitor")).props("dense outlined").classes("w-64")
        f_sev = ui.select({"": ctx.t("all_severities"), "critical": ctx.t("sev_critical"),
                           "warning": ctx.t("sev_warning")}, value="", label=ctx.t("severity")) \
            .props("dense outlined").classes("w-40")
        f_label = ui.select({"": ctx.t("all_labels"), "none": ctx.t("unlabelled"),
                             **{k: ctx.t("label_" + k) for k in LABELS}}, value="", label=ctx.t("feedback")) \
            .props("dense outlined").classes("w-44")
        count = ui.label().classes("text-sm text-gray-600")
    ui.label(ctx.t("alerts_hint")).classes("text-xs text-gray-500")
    listing = ui.column().classes("w-full gap-2")
    can_label = ctx.principal.can(Action.anomaly_label)

    def give(fp: str, label: str) -> None:
        try:
            a = scope.anomaly(ctx.ml, ctx.principal, fp)
            ctx.ml.detection.label(a.fingerprint, label, author=ctx.principal.username)
        except MetricLoopError as exc:
            ui.notify(exc.localized(ctx.locale), type="negative")
            return
        ui.notify(ctx.t("feedback_saved", label=ctx.t("label_" + label)), type="positive")
        refresh()

    def refresh() -> None:
        label = f_label.value or None
        rows = ctx.ml.detection.anomalies(monitor=f_monitor.value or None, state="active",
                                          label=label if label not in (None, "none") else None, limit=2000)
        rows = [a for a in rows if scope.sees(ctx.ml, ctx.principal, a.metric, a.slice)
                and (not f_sev.value or a.severity == f_sev.value) and (label != "none" or a.label is None)][:50]
        incidents = anomalies.incident_numbers(ctx.ml, [a.fingerprint for a in rows])
        count.set_text(ctx.t("alerts_count", n=len(rows)))
        listing.clear()
        with listing:
            if not rows:
                ui.label(ctx.t("nothing_here")).classes("text-gray-500")
            for a in rows:
                card = ui.card().classes("w-full p-3").props(f'data-testid="alert" data-fingerprint="{a.fingerprint}"')
                with card, ui.row().classes("w-full items-center gap-3 no-wrap"):
                        ui.badge(ctx.t("sev_" + a.severity)).props(f"color={SEVERITY_COLOR.get(a.severity, 'grey')}")
                        with ui.column().classes("gap-0 grow min-w-0"):
                            title = ctx.ml.workflow.metric_label(a.metric, ctx.locale)
                            sl = slice_text(a.slice, ctx.ml, ctx.locale)
                            ui.label(f"{title}{' · ' + sl if sl else ''}").classes("font-semibold")
                            when = local_time(ctx.ml, a.start)
                            if a.end != a.start:
                                when += f" – {local_time(ctx.ml, a.end)}"
                            value = ctx.t("actual_vs_expected", actual=metric_value(ctx.ml, a.metric, a.actual),
                                          expected=metric_value(ctx.ml, a.metric, a.expected))
                            lo, up = (clamp(v, metric_bounds(ctx.ml, a.metric)) for v in (a.lower, a.upper))
                            band = ctx.t("normal_range", lower=metric_value(ctx.ml, a.metric, lo),
                                         upper=metric_value(ctx.ml, a.metric, up)) if lo is not None else ""
                            ui.label(f"{when} · {value}{' · ' + band if band else ''}").classes("text-xs text-gray-600")
                            window_chart(ctx, a.metric, a.slice, a.grain, a.start, a.end)
                        inc = incidents.get(a.fingerprint)
                        if inc:
                            ui.link(f"INC-{inc}", f"/incidents/{inc}").classes("text-sm shrink-0")
                        if a.label:
                            ui.badge(ctx.t("label_" + a.label)).props(f"color={LABEL_COLOR[a.label]} outline") \
                                .props('data-testid="alert-label"')
                        if can_label:
                            with ui.button_group().props("flat"):
                                for lab in LABELS:
                                    ui.button(ctx.t("label_" + lab),
                                              on_click=lambda _=None, fp=a.fingerprint, k=lab: give(fp, k)) \
                                        .props(f'flat dense no-caps size=sm data-testid="label-{lab}"')

    for f in (f_monitor, f_sev, f_label):
        f.on_value_change(lambda _: refresh())
    refresh()
