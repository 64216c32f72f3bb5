"""Notification channels: where messages go (never a secret), whether each can be used now, what
is waiting or undeliverable, and a test-send button that reports what the platform answered."""

from __future__ import annotations

from nicegui import run, ui

from metricloop.access.roles import Action
from metricloop.errors import MetricLoopError
from metricloop.ui.layout import PageContext, page, section_title
from metricloop.views.channels import channel_rows, test_send


@page("/admin/channels", nav="channels", action=Action.channel_test)
def channels_page(ctx: PageContext) -> None:
    section_title(ctx.t("channels_title"))
    ui.label(ctx.t("channels_hint")).classes("text-sm text-gray-600")
    listing = ui.column().classes("w-full gap-2")

    async def send(name: str) -> None:
        try:
            out = await run.io_bound(test_send, ctx.ml, name, ctx.principal.username, ctx.locale)
        except MetricLoopError as exc:
            ui.notify(exc.localized(ctx.locale), type="negative", multi_line=True)
            return
        if out is None:
            return
        if out.delivered:
            ui.notify(ctx.t("test_sent", channel=name), type="positive")
        else:
            ui.notify(ctx.t("test_failed", channel=name, detail=out.detail), type="negative", multi_line=True)

    try:
        rows = channel_rows(ctx.ml)
    except MetricLoopError as exc:
        ui.label(exc.localized(ctx.locale)).classes("text-red-700")
        return
    with listing:
        if not rows:
            ui.label(ctx.t("no_channels")).classes("text-gray-500")
        for c in rows:
            card = ui.card().classes("w-full p-3").props(f'data-testid="channel" data-channel="{c.name}"')
            with card, ui.row().classes("w-full items-center gap-3 no-wrap"):
                    ui.icon("check_circle" if c.configured and not c.broken else "error") \
                        .classes("text-green-700" if c.configured and not c.broken else "text-red-700")
                    with ui.column().classes("gap-0 grow min-w-0"):
                        ui.label(f"{c.name} · {ctx.t('channel_type_' + c.type)}").classes("font-semibold")
                        detail = " · ".join(x for x in (c.target, f"{ctx.t('fallback')}: {c.fallback}"
                                                         if c.fallback else None) if x)
                        ui.label(detail).classes("text-xs text-gray-600")
                        problem = c.problem_zh if ctx.locale == "zh-CN" else c.problem
                        if problem:
                            ui.label(ctx.t("channel_problem", problem=problem)).classes("text-xs text-red-700") \
                                .props('data-testid="channel-problem"')
                        if c.broken:
                            ui.label(ctx.t("channel_broken", reason=c.broken_reason or "")).classes(
                                "text-xs text-orange-700")
                    ui.label(ctx.t("channel_queue", pending=c.pending, dead=c.dead)).classes("text-xs text-gray-600")
                    ui.button(ctx.t("test_send"), icon="send", on_click=lambda _=None, n=c.name: send(n)) \
                        .props(f'outline dense data-testid="test-{c.name}"')
