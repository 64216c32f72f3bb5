"""Home: metric status cards by tier, loop health (MTTA, MTTR, closure, open/overdue), data freshness."""

from __future__ import annotations

from nicegui import run, ui

from metricloop.access.roles import Action
from metricloop.ui.ask import ask_box
from metricloop.ui.data import (
    TONE_COLOR,
    Card,
    StatusBoard,
    duration_text,
    local_time,
    share_text,
    sparkline_svg,
    status_board,
)
from metricloop.ui.layout import PageContext, page, section_title
from metricloop.views import scope

TONE = {"good": "text-green-700", "bad": "text-red-700", "neutral": "text-gray-600"}


def _card(ctx: PageContext, card: Card) -> None:
    with ui.card().classes("w-64 cursor-pointer hover:shadow-lg").props(f'data-metric="{card.metric}"') \
            .on("click", lambda _=None, n=card.metric: ui.navigate.to(f"/dictionary/{n}")):
        ui.label(card.label).classes("text-sm text-gray-600")
        ui.label(card.value).classes("text-2xl font-bold text-gray-900")
        if card.note == "scope":
            ui.label(ctx.t("hidden_metric")).classes("text-xs text-gray-500")
        elif card.note:
            ui.label(card.note).classes("text-xs text-red-700")
        elif card.change_pct is not None:
            arrow = "▲" if card.change_pct > 0 else "▼" if card.change_pct < 0 else "■"
            with ui.row().classes("items-center gap-1"):
                ui.label(f"{arrow} {card.change_pct:+.1%}").classes(f"text-sm font-semibold {TONE[card.tone]}")
                ui.label(ctx.t("vs_last_week")).classes("text-xs text-gray-500")
        else:
            ui.label(ctx.t("no_value")).classes("text-xs text-gray-500")
        if card.spark:  # the last 28 days: a trend at a glance
            ui.html(sparkline_svg(card.spark, color=TONE_COLOR[card.tone])).classes("w-full") \
                .tooltip(ctx.t("spark_hint"))


def _board(ctx: PageContext, board: StatusBoard) -> None:
    if board.day:
        ui.label(f"{ctx.t('home_intro')} {board.day.isoformat()}").classes("text-sm text-gray-600")
    for tier, cards in board.tiers.items():
        ui.label(ctx.t(f"tier_{tier}")).classes("text-base font-semibold text-gray-700 mt-2")
        with ui.row().classes("gap-4"):
            for card in cards:
                _card(ctx, card)


def _freshness(ctx: PageContext) -> list[tuple[str, str]]:
    latest: dict[str, str] = {}
    for load in ctx.ml.loads(limit=200):
        if load.table_name not in latest and load.max_event_time is not None:
            latest[load.table_name] = local_time(ctx.ml, load.max_event_time)
    return sorted(latest.items())


def _loop_health(ctx: PageContext) -> None:
    """MTTA, MTTR, closure rate, open and overdue incidents — of the incidents the user may see."""
    h = ctx.ml.review.health(visible=scope.visible_to(ctx.ml, ctx.principal))["overall"]
    with ui.card().classes("w-full").props('data-testid="loop-health"'):
        with ui.row().classes("w-full items-center justify-between"):
            ui.label(ctx.t("loop_health")).classes("font-semibold")
            ui.link(ctx.t("open_board"), "/incidents").classes("text-xs")
        if not h["incidents"]:
            ui.label(ctx.t("loop_health_empty")).classes("text-sm text-gray-600")
            return
        figures = (
            ("mtta", duration_text(h["mtta_min"], ctx.locale), "health_mtta_hint"),
            ("mttr", duration_text(h["mttr_min"], ctx.locale), "health_mttr_hint"),
            ("closure_rate", share_text(h["closure_rate"]), "health_closure_hint"),
            ("ack_sla", share_text(h["ack_within_sla"]), "health_sla_hint"),
        )
        with ui.grid(columns=2).classes("w-full gap-3"):
            for key, value, hint in figures:
                with ui.column().classes("gap-0").props(f'data-testid="health-{key}"').tooltip(ctx.t(hint)):
                    ui.label(ctx.t("health_" + key)).classes("text-xs text-gray-500")
                    ui.label(value).classes("text-xl font-bold text-gray-900 whitespace-nowrap")
        with ui.row().classes("w-full gap-4 text-sm"):
            ui.link(ctx.t("health_open", n=h["open"]), "/incidents").props('data-testid="health-open"')
            ui.label(ctx.t("health_overdue", n=h["overdue"])).classes(
                "text-red-700 font-semibold" if h["overdue"] else "text-gray-600").props('data-testid="health-overdue"')
        ui.label(ctx.t("health_scope", n=h["incidents"])).classes("text-xs text-gray-500")


@page("/", nav="home")
async def home(ctx: PageContext) -> None:
    with ui.row().classes("w-full gap-6 items-start no-wrap"):
        with ui.column().classes("grow gap-2"):
            ask_box(ctx)
            section_title(ctx.t("home_title"))
            body = ui.column().classes("w-full gap-2")
            with body:
                ui.spinner(size="lg")
        with ui.column().classes("w-96 shrink-0 gap-4"):
            if ctx.principal.can(Action.incident_read):
                _loop_health(ctx)
            fresh = ui.card().classes("w-full")
            with fresh:
                ui.label(ctx.t("data_freshness")).classes("font-semibold")
    await ui.context.client.connected()
    board = await run.io_bound(status_board, ctx.ml, ctx.principal, ctx.locale)
    if board is None:  # the server is shutting down
        return
    body.clear()
    with body:
        _board(ctx, board)
    tables = await run.io_bound(_freshness, ctx) or []
    with fresh:
        if not tables:
            ui.label(ctx.t("no_loads")).classes("text-sm text-gray-600")
        for table, when in tables:
            ui.label(f"{table} · {ctx.t('newest_data', time=when)}").classes("text-sm text-gray-700")
