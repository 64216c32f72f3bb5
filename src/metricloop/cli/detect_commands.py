"""``metricloop detect``, ``metricloop anomalies …``, ``metricloop monitors …``: thin doors over
``ml.detection``. Every listing takes ``--format json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from metricloop.cli.commands import (
    Fmt,
    FormatOpt,
    ProjectOpt,
    could_not_run,
    locale_of,
    open_project,
    report_definition_errors,
)
from metricloop.cli.honest import metric_values, print_stale
from metricloop.cli.main import app
from metricloop.cli.render import console, emit, wall_clock, when
from metricloop.errors import ConfigError

anomalies_app = typer.Typer(help="Anomalies found by the monitors: list, show, label (异常).", no_args_is_help=True)
monitors_app = typer.Typer(help="Monitors (monitors/*.yaml and API-written): list, validate, show, evaluate.",
                           no_args_is_help=True)
app.add_typer(anomalies_app, name="anomalies")
app.add_typer(monitors_app, name="monitors")

EVENT_COLUMNS = ["fingerprint", "monitor", "metric", "slice", "start", "end", "severity", "actual", "expected",
                 "impact", "state", "change", "reason"]


def _event_row(e: Any, loc: str, ml: Any = None) -> dict[str, Any]:
    return wall_clock({
        "fingerprint": e.fingerprint[:12],
        "monitor": e.monitor,
        "metric": e.metric,
        "slice": ", ".join(f"{k}={v}" for k, v in e.slice.items()) or "(total)",
        "start": e.start,
        "end": e.end,
        "severity": e.severity,
        "actual": _value(ml, e.metric, e.actual),
        "expected": _value(ml, e.metric, e.expected),
        "impact": _value(ml, e.metric, e.impact),
        "state": e.state if e.suppressed_by is None else f"{e.state} ({e.suppressed_by.split(':')[0]})",
        "change": e.change or "",
        "label": e.label or "",
        "reason": e.reason.render(loc) if e.reason else "",
    })


def _value(ml: Any, metric: str, value: Any) -> Any:
    """A value in the metric's format and unit (a count prints as 259,224, not 259224.0)."""
    return value if ml is None or value is None else metric_values(ml, metric, {"v": value}, ("v",))["v"]


@app.command()
def detect(
    project: ProjectOpt = None,
    monitor: Annotated[str | None, typer.Option("--monitor", "-m", help="Only this monitor.")] = None,
    at: Annotated[str | None, typer.Option(help="Evaluate as of this time (ISO, project timezone).")] = None,
    start: Annotated[str | None, typer.Option(help="Backtest from this date/time (needs --monitor and --end).")] = None,
    end: Annotated[str | None, typer.Option(help="Backtest until this date/time (inclusive).")] = None,
    max_series: Annotated[int, typer.Option(help="Backtest: series in the chart JSON.")] = 20,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Run the monitors now (or --at TS) and store anomalies; with --start/--end, a backtest."""
    ml = open_project(project)
    loc = locale_of(ml)
    if start or end:
        if at:
            raise ConfigError("give either --at (a run) or --start/--end (a backtest), not both",
                              zh="--at（运行）与 --start/--end（回测）不能同时使用")
        if not (start and end and monitor):
            raise ConfigError("a backtest needs --monitor, --start and --end",
                              zh="回测需要 --monitor、--start 和 --end")
        chart = ml.detection.backtest(monitor, start, end, max_series=max_series, locale=loc)
        if fmt is Fmt.json:
            emit([], "json", payload=chart)
            return
        s = chart["summary"]
        console.print(f"[bold]{chart['monitor']}[/] {chart['metric']} ({chart['grain']}, {chart['direction']}) "
                      f"{chart['start']} → {chart['end']}: {s['events']} events would have fired "
                      f"({s['critical']} critical), {s['suppressed']} suppressed, {s['series']} series")
        rows = [
            {**metric_values(ml, chart["metric"], a, ("actual", "expected", "impact")),
             "slice": ", ".join(f"{k}={v}" for k, v in a["slice"].items()) or "(total)",
             "reason": a.get("reason_text") or ""}
            for a in chart["anomalies"] if a["state"] == "active"
        ]
        emit(rows, fmt.value, columns=["fingerprint", "slice", "start", "end", "severity", "actual", "expected",
                                       "impact", "reason"], title="backtest 回测")
        return
    report = ml.detection.run(monitor=monitor, at=at)
    if fmt is Fmt.json:
        emit([], "json", payload=wall_clock(report.to_dict(loc)))
    else:
        emit([
            {"monitor": r.monitor, "status": r.status,
             "window": f"{when(wall_clock(r.window_start))} → {when(wall_clock(r.window_end))}"
             if r.window_end else "", "series": r.series, "new": r.count("new"), "updated": r.count("updated"),
             "retracted": len(r.retracted), "detail": r.detail or ""}
            for r in report.monitors
        ], "table", title=f"detection at {when(wall_clock(report.at))}",
            columns=["monitor", "status", "window", "series", "new", "updated", "retracted", "detail"])
        events = [e for r in report.monitors for e in r.events if e.active]
        if events:
            emit([_event_row(e, loc, ml) for e in events], "table", columns=EVENT_COLUMNS, title="anomalies 异常")
    print_stale(ml, report.at, monitor)
    if report.failed:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------- anomalies
@anomalies_app.command("list")
def anomalies_list(
    project: ProjectOpt = None,
    monitor: Annotated[str | None, typer.Option("--monitor", "-m")] = None,
    metric: Annotated[str | None, typer.Option()] = None,
    state: Annotated[str, typer.Option(help="active | suppressed | retracted | stale | all")] = "active",
    since: Annotated[str | None, typer.Option(help="Ending at or after this date/time.")] = None,
    until: Annotated[str | None, typer.Option(help="Starting at or before this date/time.")] = None,
    label: Annotated[str | None, typer.Option(help="Only with this label.")] = None,
    limit: int = 100,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Stored anomalies, newest first."""
    ml = open_project(project)
    loc = locale_of(ml)
    items = ml.detection.anomalies(monitor=monitor, metric=metric, state=None if state == "all" else state,
                                   since=since, until=until, label=label, limit=limit)
    cols = [c for c in EVENT_COLUMNS if c != "change"] + ["label"]
    emit([_event_row(e, loc, ml) for e in items], fmt.value, columns=cols, title="anomalies 异常",
         payload=[wall_clock(e.to_dict(loc)) for e in items])


@anomalies_app.command("show")
def anomalies_show(
    fingerprint: Annotated[str, typer.Argument(help="Fingerprint (or a unique prefix of 6+ characters).")],
    project: ProjectOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """One anomaly with its labels."""
    ml = open_project(project)
    loc = locale_of(ml)
    e = ml.detection.anomaly(fingerprint)
    payload = wall_clock({**e.to_dict(loc), "labels": ml.detection.labels(e.fingerprint)})
    if fmt is Fmt.json:
        emit([], "json", payload=payload)
        return
    for k, v in payload.items():
        if k not in ("reason", "labels"):
            console.print(f"[bold]{k}[/]: {when(v)}", highlight=False)
    if payload["labels"]:
        emit(payload["labels"], "table", title="labels 标注", columns=["label", "note", "author", "created_at"])


@anomalies_app.command("label")
def anomalies_label(
    fingerprint: Annotated[str, typer.Argument(help="Fingerprint (or a unique prefix).")],
    label: Annotated[str, typer.Argument(help="confirmed | expected | false_alarm | new_normal")],
    project: ProjectOpt = None,
    note: Annotated[str | None, typer.Option("--note", "-n", help="Why.")] = None,
    author: Annotated[str | None, typer.Option(help="Who (default: $METRICLOOP_USER or login).")] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Label an anomaly; the monitor's next evaluation and its precision use it."""
    ml = open_project(project)
    e = ml.detection.label(fingerprint, label, note=note, author=author)
    prec = ml.detection.precision(e.monitor)
    if fmt is Fmt.json:
        emit([], "json", payload={"anomaly": wall_clock(e.to_dict(locale_of(ml))), "precision": prec})
        return
    p = prec["precision"]
    console.print(f"labelled {e.fingerprint[:12]} as {e.label}; monitor {e.monitor} precision "
                  f"{'-' if p is None else f'{p:.0%}'} over {prec['labelled']} labels")


# ---------------------------------------------------------------------------------- monitors
@monitors_app.command("list")
def monitors_list(project: ProjectOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Every monitor with its metric, grain, slicing, origin and precision."""
    ml = open_project(project)
    rows = []
    for m in ml.detection.monitors():
        s = m.spec
        prec = ml.detection.precision(m.name)
        rows.append({
            "name": m.name, "metric": s.metric, "by": ", ".join(s.by), "grain": s.grain.value,
            "detectors": ", ".join(d.type for d in s.detectors), "schedule": s.schedule,
            "enabled": s.enabled, "origin": m.origin, "source": m.source,
            "precision": prec["precision"], "labelled": prec["labelled"],
        })
    emit(rows, fmt.value, title="monitors 监控",
         columns=["name", "metric", "by", "grain", "detectors", "schedule", "enabled", "origin", "precision",
                  "labelled", "source"])


@monitors_app.command("validate")
def monitors_validate(project: ProjectOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Check every monitor (file, line, field of each problem) and record revisions.

    Exit code 0 = valid, 1 = problems found, 2 = could not run (no project, unreadable file).
    """
    with could_not_run():
        ml = open_project(project)
    with could_not_run(ml):
        try:
            monitors = ml.detection.monitors()
        except ConfigError as exc:  # DefinitionError, or YAML that does not parse: problems found
            report_definition_errors(exc, fmt, locale_of(ml))
        changes = ml.detection.sync_monitors()
    if fmt is Fmt.json:
        emit([], "json", payload={"valid": True, "monitors": len(monitors), "changes": changes, "problems": []})
        return
    console.print(f"[green]✓[/] {len(monitors)} monitors valid")
    for c in changes:
        console.print(f"  {c['change']:<10} {c['monitor']} → v{c['version']}")


@monitors_app.command("show")
def monitors_show(
    name: Annotated[str, typer.Argument(help="Monitor name.")], project: ProjectOpt = None, fmt: FormatOpt = Fmt.table
) -> None:
    """One monitor: definition, revisions, precision and recent runs."""
    ml = open_project(project)
    m = ml.detection.monitor(name)
    payload = {
        "name": m.name, "origin": m.origin, "source": m.source, "spec_hash": m.hash,
        "definition": m.spec.model_dump(mode="json", exclude_defaults=True),
        "precision": ml.detection.precision(name), "revisions": ml.detection.monitor_history(name),
        "runs": wall_clock(ml.detection.runs(name, limit=10)),
    }
    if fmt is Fmt.json:
        emit([], "json", payload=payload)
        return
    console.print(f"[bold]{m.name}[/] ({m.origin}: {m.source}) hash {m.hash[:12]}")
    console.print_json(data=payload["definition"])
    runs: list[dict[str, Any]] = payload["runs"]
    emit(runs, "table", title="recent runs 最近运行",
         columns=["id", "status", "at", "window_start", "window_end", "series", "new", "updated", "retracted"])


@monitors_app.command("evaluate")
def monitors_evaluate(
    truth: Annotated[Path, typer.Option(help="ground_truth.json (the demo writes DIR/data/ground_truth.json).")],
    start: Annotated[str, typer.Option(help="First day (inclusive).")],
    end: Annotated[str, typer.Option(help="Last day (exclusive).")],
    project: ProjectOpt = None,
    monitor: Annotated[list[str] | None, typer.Option("--monitor", "-m", help="Only these monitors.")] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Backtest the monitors and score them against known incidents: recall and false alarms."""
    import datetime as dt

    from metricloop.detect.evaluation import evaluate_project, load_ground_truth

    ml = open_project(project)
    ev = evaluate_project(ml.detection, load_ground_truth(truth), dt.date.fromisoformat(start),
                          dt.date.fromisoformat(end), monitors=monitor)
    d = ev.to_dict()
    if fmt is Fmt.json:
        emit([], "json", payload=d)
        return
    console.print(f"recall {d['detected']}/{d['incidents']} · {d['events']} events · "
                  f"{d['false_alarms']} false alarms ({d['false_alarms_per_month']}/month) · "
                  f"{d['unmatched']} not matching an incident ({d['unmatched_per_month']}/month)")
    emit([{**i, "monitors": ", ".join(i["monitors"])} for i in d["per_incident"]], "table",
         columns=["id", "detected", "first_event", "delay_hours", "monitors"], title="incidents 故障")
    emit([{"monitor": k, **v} for k, v in d["per_monitor"].items()], "table", title="monitors 监控",
         columns=["monitor", "events", "matched", "false_alarms"])
