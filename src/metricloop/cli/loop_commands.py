"""``metricloop run``: one pass of the loop (detect → explain → incidents → notify → timers).

Also registers the demo's replay step: ``metricloop demo`` runs the demo company's recent
history through the loop (with local chat-robot and mail receivers standing in for DingTalk,
WeCom, Feishu and SMTP) and lets its owners work the incidents.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Any

import typer

from metricloop.cli.commands import Fmt, FormatOpt, ProjectOpt, gate_project, open_project
from metricloop.cli.main import app
from metricloop.cli.render import console, emit, err_console, wall_clock
from metricloop.cli.serve_commands import DEMO_STEPS, start_demo_receivers
from metricloop.errors import ConfigError


def _when(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--{name} {value!r} is not a timestamp like 2026-09-02T16:10") from None


@app.command("run")
def run(
    project: ProjectOpt = None,
    at: Annotated[str | None, typer.Option(help="Run as of this time (default: now).")] = None,
    monitor: Annotated[str | None, typer.Option(help="Only this monitor.")] = None,
    backfill_from: Annotated[
        str | None,
        typer.Option(help="Replay history from this time to --at (judge once, then open incidents in time order)."),
    ] = None,
    no_notify: Annotated[bool, typer.Option("--no-notify", help="Queue messages but do not send them.")] = False,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """One pass of the loop: detect → explain → group into incidents → notify → timers."""
    from metricloop import loop
    from metricloop.cli.honest import print_stale

    gate_project(project)  # an owners.yaml typo stops here, before any anomaly is stored
    ml = open_project(project)
    start = _when(backfill_from, "backfill-from")
    if start is not None:
        end = _when(at, "at") or dt.datetime.now()
        summary = loop.backfill(ml, start, end, notify=not no_notify)
    else:
        summary = loop.run_pass(ml, _when(at, "at"), monitor=monitor, notify=not no_notify)
    data = {**summary.to_dict(), "at": wall_clock(summary.at)}  # with the project's offset
    for line in summary.undeliverable:  # the pass succeeded; these messages wait for their channel
        err_console.print(f"[yellow]undeliverable 无法投递:[/] {line}", highlight=False)
    if fmt is Fmt.table:
        data.pop("undeliverable")
        rows = [{"step": k, "value": v} for k, v in data.items()]
        emit(rows, "table", title="loop pass 闭环运行", columns=["step", "value"])
    else:
        emit([data], fmt.value, payload=data)
    if summary.failed_monitors:
        console.print(f"[yellow]monitors that failed:[/] {', '.join(summary.failed_monitors)}")
    print_stale(ml, summary.at, monitor)  # "anomalies 0" on data that stopped is not all clear


def _demo_replay(ml: Any, progress: Any) -> None:
    from metricloop.demo.story import demo_history

    if not any(k.startswith("ML_") for k in os.environ):
        start_demo_receivers()
    if ml.workflow.list_incidents():
        progress("reusing the replayed history", 1.0)
        return
    demo_history(ml, months=6, progress=progress)


DEMO_STEPS.append(_demo_replay)
