"""Mount the NiceGUI web UI on the service's FastAPI app.

NiceGUI keeps its pages in one process-wide app, so the UI is mounted once per process (the
``serve`` command). Pages live in ``ui/pages`` (one module each); missing stage pages get a
placeholder so navigation never leads nowhere.
"""

from __future__ import annotations

from fastapi import FastAPI
from nicegui import ui

from metricloop.errors import ConfigError
from metricloop.service import MetricLoop
from metricloop.ui import pages
from metricloop.ui.layout import NAV, REGISTERED, SLOTS, STATE, PageContext, page

_mounted = False


def _placeholder(path: str, stage: str, nav: str | None, action: str) -> None:
    params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]

    def build(ctx: PageContext, **_: str) -> None:
        with ui.card().classes("w-full"):
            ui.label(ctx.t("coming_soon", stage=ctx.t(stage))).classes("text-gray-600") \
                .props('data-testid="placeholder"')

    import inspect

    build.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         *(inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, annotation=str) for p in params)])
    page(path, nav=nav, action=action)(build)


def mount(app: FastAPI, ml: MetricLoop) -> None:
    global _mounted
    if _mounted:
        raise ConfigError("the web UI is already mounted in this process (NiceGUI allows one app per process)")
    STATE.ml = ml
    pages.discover()
    for item in NAV:
        if item.path not in REGISTERED and item.stage:
            _placeholder(item.path, item.stage, item.key, item.action)
    for path, stage in SLOTS.items():
        if path not in REGISTERED:
            _placeholder(path, stage, None, "incident.read")
    ui.run_with(app, title="MetricLoop", favicon="📈", show_welcome_message=False, reconnect_timeout=10.0)
    _mounted = True
