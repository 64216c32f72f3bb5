"""The review editor (复盘: required sections, drafted from what MetricLoop knows; completing is
refused while a required section is empty) and the case library (search in Chinese or English)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from metricloop.access.roles import Action
from metricloop.errors import MetricLoopError
from metricloop.ui.data import VERDICT_COLOR, local_time, one_language, record_title
from metricloop.ui.layout import PageContext, page, section_title
from metricloop.ui.pages.incidents import status_badge
from metricloop.views import scope

PEOPLE_SECTIONS = ("summary", "root_cause", "lessons")  # MetricLoop drafts the others


@page("/reviews/{review_id}", nav="cases", action=Action.incident_read)
def review_page(ctx: PageContext, review_id: str) -> None:
    ref = f"INC-{review_id.removeprefix('INC-')}"
    try:
        inc = scope.incident(ctx.ml, ctx.principal, ref)
    except MetricLoopError:
        ui.label(f"{ctx.t('not_found')}: {ref}").classes("text-lg")
        return
    can_write = ctx.principal.can(Action.review_write)
    body = ui.column().classes("w-full gap-4")

    def load() -> dict[str, Any] | None:
        try:
            return ctx.ml.review.get(ref)
        except MetricLoopError:
            if not can_write:
                return None
            return ctx.ml.review.draft(ref, actor=ctx.principal.username)

    def draw() -> None:
        review = load()
        body.clear()
        with body:
            with ui.row().classes("w-full items-center gap-3"):
                title = record_title(ctx.ml, inc["metric"], inc["slice"], ctx.locale)
                ui.label(ctx.t("review_of", incident=ref, title=title)).classes("text-2xl font-bold")
                status_badge(ctx, "closed" if review and review["status"] == "completed" else "verifying",
                             ctx.t("review_" + (review["status"] if review else "draft"))) \
                    .props('data-testid="review-status"')
                ui.link(ctx.t("back_to_incident"), f"/incidents/{inc['number']}").classes("text-sm")
            if review is None:
                ui.label(ctx.t("no_review_yet")).classes("text-gray-600")
                return
            completed = review["status"] == "completed"
            if review.get("verdict"):
                ui.label(f"{ctx.t('verified_effect')}: {ctx.t('verdict_' + review['verdict'])}").classes("text-sm")
            editors: dict[str, Any] = {}
            for key, sec in review["sections"].items():
                with ui.card().classes("w-full").props(f'data-testid="section-{key}"'):
                    with ui.row().classes("items-center gap-2"):
                        ui.label(sec["label"]).classes("font-semibold")
                        if sec.get("required"):
                            ui.label("*").classes("text-red-600")
                        if key not in PEOPLE_SECTIONS and not sec.get("edited"):
                            ui.badge(ctx.t("auto_drafted")).props("color=grey-5 outline")
                        if key in review["missing"]:
                            ui.badge(ctx.t("required_empty")).props("color=red-7")
                    if completed or not can_write:
                        ui.label(sec.get("text") or "–").classes("text-sm whitespace-pre-line")
                        continue
                    editors[key] = ui.textarea(value=sec.get("text") or "",
                                               placeholder=ctx.t(f"hint_{key}")) \
                        .props(f'outlined autogrow data-testid="edit-{key}"').classes("w-full")
            if completed or not can_write:
                ui.label(ctx.t("review_completed_at", time=local_time(ctx.ml, review["completed_at"]))) \
                    .classes("text-sm text-gray-600")
                return

            def save(show: bool = True) -> bool:
                current = ctx.ml.review.get(ref)["sections"]
                try:
                    for key, box in editors.items():
                        if (box.value or "") != (current[key].get("text") or ""):
                            ctx.ml.review.edit(ref, key, box.value or "", actor=ctx.principal.username)
                except MetricLoopError as exc:
                    ui.notify(exc.localized(ctx.locale), type="negative")
                    return False
                if show:
                    ui.notify(ctx.t("saved"), type="positive")
                    draw()
                return True

            def complete() -> None:
                if not save(show=False):
                    return
                try:
                    ctx.ml.review.complete(ref, actor=ctx.principal.username)
                except MetricLoopError as exc:
                    current = ctx.ml.review.get(ref)
                    labels = "、".join(current["sections"][k]["label"] for k in current["missing"])
                    message = ctx.t("cannot_complete", sections=labels) if labels else exc.localized(ctx.locale)
                    ui.notify(message, type="negative", multi_line=True)
                    draw()
                    return
                ui.notify(ctx.t("review_done"), type="positive")
                draw()

            with ui.row().classes("gap-2"):
                ui.button(ctx.t("save"), on_click=lambda: save()).props('outline data-testid="save-review"')
                ui.button(ctx.t("complete_review"), icon="task_alt", on_click=complete) \
                    .props('color=green-8 data-testid="complete-review"')
                if review["missing"]:
                    names = "、".join(review["sections"][k]["label"] for k in review["missing"])
                    ui.label(ctx.t("still_missing", sections=names)).classes("text-sm text-red-700 self-center") \
                        .props('data-testid="missing-sections"')

    draw()


@page("/cases", nav="cases", action=Action.incident_read)
def cases_page(ctx: PageContext, q: str | None = None) -> None:
    section_title(ctx.t("cases_title"))
    with ui.row().classes("w-full items-center gap-4"):
        search = ui.input(placeholder=ctx.t("cases_placeholder"), value=q or "") \
            .props('outlined dense clearable data-testid="case-search"').classes("w-[520px]")
        count = ui.label().classes("text-sm text-gray-600")
    results = ui.column().classes("w-full gap-3")

    def refresh() -> None:
        text = (search.value or "").strip()
        rows = ctx.ml.review.search(text, limit=200) if text else ctx.ml.review.cases()
        rows = [r for r in rows if scope.sees(ctx.ml, ctx.principal, r["metric"], r.get("slice"))]
        count.set_text(ctx.t("cases_count", n=len(rows)))
        results.clear()
        with results:
            if not rows:
                ui.label(ctx.t("no_cases")).classes("text-gray-500")
            for r in rows[:50]:
                number = r["incident"].removeprefix("INC-")
                with ui.card().classes("w-full cursor-pointer hover:shadow-lg").props('data-testid="case"') \
                        .on("click", lambda _=None, n=number: ui.navigate.to(f"/reviews/{n}")):
                    with ui.row().classes("items-center gap-2"):
                        title = record_title(ctx.ml, r["metric"], r.get("slice"), ctx.locale)
                        ui.label(f"{r['incident']} · {title}").classes("font-semibold")
                        if r.get("verdict"):
                            ui.badge(ctx.t("verdict_" + r["verdict"])) \
                                .props(f"color={VERDICT_COLOR.get(r['verdict'], 'grey')} outline")
                        ui.label(local_time(ctx.ml, r.get("completed_at"))).classes("text-xs text-gray-500")
                    if r.get("root_cause"):  # case texts written in both languages: the reader's only
                        ui.label(f"{ctx.t('root_cause')}: {one_language(r['root_cause'], ctx.locale)}") \
                            .classes("text-sm text-gray-800").props('data-testid="case-root-cause"')
                    acts = [one_language(a["title"], ctx.locale) for a in r.get("actions") or []]
                    if acts:
                        ui.label(f"{ctx.t('action_items')}: {'; '.join(acts)}").classes("text-xs text-gray-600")

    search.on_value_change(lambda _: refresh())
    refresh()
