"""``metricloop bench loop``: the loop's judgement end to end on a seeded food-delivery company."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.commands import Fmt, FormatOpt
from metricloop.cli.render import console, emit


@bench_app.command("loop")
def bench_loop(
    seed: Annotated[int, typer.Option(help="Seed of the company (incident days, hours, sizes; noise).")] = 1,
    held_out: Annotated[int, typer.Option(
        "--held-out-seed", help="A second, held-out seed reported beside it (0: none).")] = 2,
    months: Annotated[float, typer.Option(help="Months of judged history (after 10 weeks of warm-up).")] = 6.0,
    small: Annotated[bool, typer.Option(
        "--small", help="Four incidents instead of 13 (for tests; use with a short --months).")] = False,
    keep: Annotated[Path | None, typer.Option(
        "--keep", help="Write the projects to DIR/seed-N and keep them (default: a temporary folder).")] = None,
    events: Annotated[bool, typer.Option("--events", help="Also print every injected event and what the loop did.")]
    = False,
    monitors: Annotated[Path | None, typer.Option(
        "--monitors", help="Judge this monitors YAML instead of the hand-written 1-D monitors (same company).",
        exists=True, dir_okay=False)] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Recall, delay, false incidents, causes, true slice rank, owner and incidents per event vs ground truth."""
    from metricloop.bench import loop as b

    seeds = [seed] + ([held_out] if held_out and held_out != seed else [])
    report = b.run(seeds, months=months, small=small, keep=keep, monitors=monitors)
    title = (f"bench loop — 饭点外卖 {months:g} months judged, seed {seed}"
             + (f" + held-out seed {held_out}" if len(seeds) > 1 else "")
             + (f", monitors {monitors.name}" if monitors else "") + " · 闭环评测")
    emit(report["table"], fmt.value, payload=report, title=title)
    if fmt is not Fmt.table:
        return
    for r in report["runs"]:
        console.print(f"seed {r['seed']}: {r['rows']:,} fact rows, {r['anomalies']} anomalies, "
                      f"build {r['build_s']} s, loop {r['loop_s']} s"
                      + (f", project kept in {r['project']}" if r.get("project") else ""), highlight=False)
    if events:
        for r in report["runs"]:
            emit(b.tag_rows(r), "table", title=f"seed {r['seed']} — by kind of incident 按事件类型")
            emit(b.event_rows(r), "table", title=f"seed {r['seed']} — injected events 注入事件")
