"""The ask box (智能问数) of the home and metric pages: a question in, the interpretation, the
number card or chart (ECharts, chosen by the assistant from the result's shape), the rows, the
compiled query and what to ask next. Answers are computed as the signed-in user."""

from __future__ import annotations

from typing import Any

from nicegui import run, ui

from metricloop.errors import MetricLoopError
from metricloop.ui.layout import PageContext
from metricloop.ui.texts import t


def _card(answer: dict[str, Any], locale: str) -> None:
    chart = answer["chart"]
    with ui.card().classes("w-72").props('data-testid="ask-number"'):
        ui.label(chart.get("label", "")).classes("text-sm text-gray-600")
        value = chart.get("value")
        ui.label("—" if value is None else f"{value:,.4g}" if abs(value) < 1 else f"{value:,.0f}") \
            .classes("text-2xl font-bold text-gray-900")
        change = chart.get("change")
        if change is not None:
            arrow = "▲" if change > 0 else "▼" if change < 0 else "■"
            ui.label(f"{arrow} {change:+.1%}").classes("text-sm font-semibold "
                                                      + ("text-green-700" if change >= 0 else "text-red-700"))


def ask_box(ctx: PageContext, metric: str | None = None) -> None:
    """The box; on a metric page a question without a metric is about that metric."""

    label = ctx.ml.catalog.metric(metric).display_label(ctx.locale) if metric else None
    with ui.card().classes("w-full").props('data-testid="ask-box"'):
        ui.label(t("ask_title", ctx.locale)).classes("font-semibold")
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            box = ui.input(placeholder=t("ask_metric_placeholder" if metric else "ask_placeholder", ctx.locale)) \
                .props('outlined dense clearable data-testid="ask-input"').classes("grow")
            button = ui.button(t("ask_button", ctx.locale)).props('data-testid="ask-button"')
        out = ui.column().classes("w-full gap-2").props('data-testid="ask-answer"')

    def answer_of(question: str) -> dict[str, Any]:
        assistant = ctx.ml.assistant
        answer = assistant.ask_as(question, ctx.principal)
        if metric and answer.clarify and answer.clarify[0].get("field") == "metric" \
                and not answer.clarify[0].get("phrase"):
            answer = assistant.ask_as(f"{label} {question}", ctx.principal)  # the page's metric
        return answer.to_dict()

    async def ask(question: str | None = None) -> None:
        question = (question or box.value or "").strip()
        if not question:
            return
        box.value = question
        out.clear()
        with out:
            ui.spinner()
            ui.label(t("ask_thinking", ctx.locale)).classes("text-sm text-gray-500")
        try:
            answer = await run.io_bound(answer_of, question)
        except MetricLoopError as exc:
            out.clear()
            with out:
                ui.label(exc.localized(ctx.locale)).classes("text-sm text-red-700").props('data-testid="ask-error"')
            return
        if answer is None:  # the server is shutting down
            return
        out.clear()
        with out:
            show(answer)

    def show(answer: dict[str, Any]) -> None:
        lines = answer["text"][ctx.locale].split("\n")
        ui.label(lines[0]).classes("text-sm text-indigo-800").props('data-testid="ask-interpretation"')
        for line in lines[1:]:
            ui.label(line).classes("text-base text-gray-900")
        for choice in answer["clarify"]:
            if choice.get("options"):
                ui.label(t("ask_choose", ctx.locale)).classes("text-sm text-gray-600")
                with ui.row().classes("gap-2"):
                    for o in choice["options"]:
                        text = o["label"][ctx.locale]
                        phrase = choice.get("phrase") or ""
                        q = (box.value or "").replace(phrase, f" {text} ") if phrase else f"{text} {box.value or ''}"
                        ui.button(text, on_click=lambda _=None, q=q: ask(q)).props("outline dense no-caps")
        chart = answer["chart"]
        if chart.get("type") == "number":
            _card(answer, ctx.locale)
        elif chart:
            y = chart.get("yAxis")
            bars = len(y.get("data") or []) if isinstance(y, dict) else 0  # a ranking: one row per bar
            height = max(288, 26 * bars + 60)
            ui.echart(chart).classes("ml-ask-chart w-full").style(f"height:{height}px") \
                .props('data-testid="ask-chart"')
        rows = answer["rows"]
        if rows and answer["intent"] not in ("define", "owner"):
            cols = [{"name": k, "label": k, "field": k, "align": "left"} for k in rows[0]]
            shown = [{k: (f"{v:,.4g}" if isinstance(v, float) else str(v) if isinstance(v, dict | list) else v)
                      for k, v in r.items()} | {"_i": i} for i, r in enumerate(rows[:20])]
            ui.table(columns=cols, rows=shown, row_key="_i").props('flat dense data-testid="ask-table"') \
                .classes("w-full")
        if answer.get("sql"):
            with ui.expansion(t("ask_sql", ctx.locale)).classes("w-full text-xs"):
                ui.code(answer["sql"], language="sql").classes("w-full")
        if answer.get("suggestions"):
            with ui.row().classes("items-center gap-2"):
                ui.label(t("ask_next", ctx.locale)).classes("text-xs text-gray-500")
                for s in answer["suggestions"]:
                    text = s[ctx.locale]
                    ui.button(text, on_click=lambda _=None, q=text: ask(q)).props("flat dense no-caps size=sm")

    button.on_click(lambda: ask())
    box.on("keydown.enter", lambda: ask())
