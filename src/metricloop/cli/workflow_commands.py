"""``metricloop incidents …``, ``metricloop review …``, ``metricloop report weekly``: thin doors over
``ml.workflow`` and ``ml.review``. Every listing takes ``--format json``; ``--now`` replays history.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from metricloop.cli.commands import Fmt, FormatOpt, ProjectOpt, open_project
from metricloop.cli.main import app
from metricloop.cli.render import console, dumps, emit, when
from metricloop.errors import ConfigError
from metricloop.workflow.lifecycle import ACTIONS

incidents_app = typer.Typer(help="Incidents: list, show, acknowledge, resolve, assign, act (事件处理).",
                            no_args_is_help=True)
review_app = typer.Typer(help="Reviews (复盘), effect verification, case library, loop health.", no_args_is_help=True)
report_app = typer.Typer(help="Reports: the weekly loop-health report.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")
app.add_typer(review_app, name="review")
app.add_typer(report_app, name="report")

ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who does it (default: $METRICLOOP_USER or login).")]
NowOpt = Annotated[str | None, typer.Option("--now", help="Act as of this time (ISO; replaying history).")]
CommentOpt = Annotated[str | None, typer.Option("--comment", "-m", help="Why / what was done.")]
IdArg = Annotated[str, typer.Argument(help="Incident id, e.g. INC-42 or 42.")]


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("METRICLOOP_USER") or getpass.getuser()


def _time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--now/--due: {value!r} is not an ISO date-time like 2026-04-14T10:00",
                          zh=f"{value!r} 不是 ISO 时间（如 2026-04-14T10:00）") from None


def _show_incident(d: dict[str, Any], fmt: Fmt) -> None:
    if fmt is not Fmt.table:
        emit([d], fmt.value, payload=d)
        return
    console.print(f"[bold]{d['id']}[/] {d['title']} — {d['status_label']} · {d['severity']} · "
                  f"{d['owner_name']} ({d['team'] or '—'})", highlight=False)
    console.print(f"  {d['actual']} vs {d['expected']} · {when(d['window_start'])} → {when(d['window_end'])} · "
                  f"rule {d['rule']}", highlight=False)
    for c in d.get("causes") or []:
        console.print(f"  · {c}", highlight=False)
    if len(d.get("metrics") or []) > 1:  # one event on related metrics, the root first
        console.print(f"  metrics: {', '.join(d['metrics'])}", highlight=False)
    if d.get("routing_reason"):
        console.print(f"  owner: {d['routing_reason']}", highlight=False)
    console.print(f"  next: {', '.join(d['allowed_actions']) or '—'}", highlight=False)


# --------------------------------------------------------------------------------- incidents
@incidents_app.command("list")
def incidents_list(
    project: ProjectOpt = None,
    fmt: FormatOpt = Fmt.table,
    status: Annotated[list[str] | None, typer.Option("--status", help="Filter by status (repeatable).")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner (person id).")] = None,
    team: Annotated[str | None, typer.Option(help="Team id.")] = None,
    metric: Annotated[str | None, typer.Option(help="Metric name.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 200,
) -> None:
    """Incidents, newest first."""
    ml = open_project(project)
    rows = ml.workflow.list_incidents(status=status, owner=owner, team=team, metric=metric, open_only=open_only,
                                      limit=limit)
    emit(rows, fmt.value, title="事件 Incidents",
         columns=["id", "title", "status_label", "severity", "owner_name", "team", "triggered_at",
                  "acknowledged_at", "resolved_at", "escalation_level"])


@incidents_app.command("show")
def incidents_show(ref: IdArg, project: ProjectOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """One incident with its alerts, audit trail, timers, action items and messages."""
    ml = open_project(project)
    d = ml.workflow.incident(ref)
    _show_incident(d, fmt)
    if fmt is Fmt.table:
        emit(d["audit"], "table", title="审计 Audit trail",
             columns=["at", "actor", "kind", "before", "after", "comment"])
        if d["actions"]:
            emit(d["actions"], "table", title="行动项 Actions", columns=["id", "title", "owner", "due_at", "status"])
        if d["messages"]:
            emit(d["messages"], "table", title="通知 Messages",
                 columns=["id", "channel", "status", "attempts", "last_error"])


def _act(project: Path | None, ref: str, action: str, actor: str | None, comment: str | None, now: str | None,
         fmt: Fmt, duplicate_of: str | None = None) -> None:
    ml = open_project(project)
    d = ml.workflow.act(ref, action, actor=_actor(actor), comment=comment, now=_time(now), duplicate_of=duplicate_of)
    _show_incident(d, fmt)


@incidents_app.command("ack")
def incidents_ack(ref: IdArg, project: ProjectOpt = None, actor: ActorOpt = None, comment: CommentOpt = None,
                  now: NowOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Acknowledge: I own it (stops the escalation chain, starts reminders)."""
    _act(project, ref, "ack", actor, comment, now, fmt)


@incidents_app.command("resolve")
def incidents_resolve(ref: IdArg, comment: Annotated[str, typer.Option("--comment", "-m", help="What fixed it.")],
                      project: ProjectOpt = None, actor: ActorOpt = None, now: NowOpt = None,
                      fmt: FormatOpt = Fmt.table) -> None:
    """Resolve: the fix is in; the incident waits for effect verification before it closes."""
    _act(project, ref, "resolve", actor, comment, now, fmt)


@incidents_app.command("act")
def incidents_act(
    ref: IdArg,
    action: Annotated[str, typer.Argument(help=f"One of: {', '.join(ACTIONS)}.")],
    project: ProjectOpt = None, actor: ActorOpt = None, comment: CommentOpt = None, now: NowOpt = None,
    duplicate_of: Annotated[str | None, typer.Option("--duplicate-of", help="For 'duplicate'.")] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Any declared transition (investigate, mitigate, close, reopen, false_positive, duplicate …)."""
    _act(project, ref, action, actor, comment, now, fmt, duplicate_of)


@incidents_app.command("assign")
def incidents_assign(ref: IdArg, person: Annotated[str, typer.Argument(help="Person id from owners.yaml.")],
                     project: ProjectOpt = None, actor: ActorOpt = None, comment: CommentOpt = None,
                     now: NowOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Hand the incident to someone else."""
    ml = open_project(project)
    _show_incident(ml.workflow.assign(ref, person, actor=_actor(actor), comment=comment, now=_time(now)), fmt)


@incidents_app.command("comment")
def incidents_comment(ref: IdArg, text: Annotated[str, typer.Argument(help="The comment.")],
                      project: ProjectOpt = None, actor: ActorOpt = None, now: NowOpt = None) -> None:
    """Add a comment to the audit trail."""
    open_project(project).workflow.comment(ref, text, actor=_actor(actor), now=_time(now))


@incidents_app.command("action")
def incidents_action(
    ref: IdArg,
    title: Annotated[str, typer.Option("--title", help="What will be done.")],
    project: ProjectOpt = None, actor: ActorOpt = None,
    owner: Annotated[str | None, typer.Option(help="Person id (default: the incident owner).")] = None,
    due: Annotated[str | None, typer.Option(help="Due date-time (ISO).")] = None,
    expected_effect: Annotated[str | None, typer.Option("--expected-effect", help="What it should do to the metric.")]
    = None,
    link: Annotated[str | None, typer.Option(help="Ticket / document URL.")] = None,
    now: NowOpt = None, fmt: FormatOpt = Fmt.table,
) -> None:
    """Add an action item (its due date becomes a stored timer)."""
    ml = open_project(project)
    row = ml.workflow.add_action(ref, title, actor=_actor(actor), owner=owner, due=_time(due),
                                 expected_effect=expected_effect, link=link, now=_time(now))
    emit([row], fmt.value, payload=row)


@incidents_app.command("action-update")
def incidents_action_update(
    action_id: Annotated[int, typer.Argument(help="Action item id.")],
    status: Annotated[str | None, typer.Option(help="open | in_progress | done | cancelled")] = None,
    effective_at: Annotated[str | None, typer.Option("--effective-at", help="When the fix took effect (ISO).")]
    = None,
    project: ProjectOpt = None, actor: ActorOpt = None, now: NowOpt = None, fmt: FormatOpt = Fmt.table,
) -> None:
    """Update an action item's status / effective time."""
    ml = open_project(project)
    row = ml.workflow.update_action(action_id, actor=_actor(actor), status=status, effective_at=_time(effective_at),
                                    now=_time(now))
    emit([row], fmt.value, payload=row)


@incidents_app.command("silence")
def incidents_silence(
    start: Annotated[str, typer.Option("--start", help="From (ISO).")],
    end: Annotated[str, typer.Option("--end", help="Until (ISO).")],
    metric: Annotated[str, typer.Option(help="Metric name or glob.")] = "*",
    monitor: Annotated[str, typer.Option(help="Monitor name or glob.")] = "*",
    where: Annotated[list[str] | None, typer.Option("--slice", help="dim=value (repeatable).")] = None,
    maintenance: Annotated[bool, typer.Option("--maintenance", help="A maintenance window.")] = False,
    comment: CommentOpt = None, project: ProjectOpt = None, actor: ActorOpt = None, fmt: FormatOpt = Fmt.table,
) -> None:
    """Silence matching alerts (or declare a maintenance window) between two times."""
    sl = {}
    for item in where or []:
        if "=" not in item:
            raise ConfigError(f"--slice {item!r}: expected dim=value", zh=f"--slice {item!r} 应为 维度=值")
        k, v = item.split("=", 1)
        sl[k.strip()] = v.strip()
    s, e = _time(start), _time(end)
    assert s is not None and e is not None
    row = open_project(project).workflow.add_silence(starts_at=s, ends_at=e, actor=_actor(actor), metric=metric,
                                                     monitor=monitor, slice=sl, comment=comment,
                                                     kind="maintenance" if maintenance else "silence")
    emit([row], fmt.value, payload=row)


@incidents_app.command("silences")
def incidents_silences(project: ProjectOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Silences and maintenance windows."""
    emit(open_project(project).workflow.silences(), fmt.value, title="静默 Silences")


@incidents_app.command("tick")
def incidents_tick(project: ProjectOpt = None, now: NowOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Fire due timers (ack deadlines, escalations, reminders, due dates) and deliver the outbox."""
    ml = open_project(project)
    t = ml.workflow.tick(_time(now))
    d = ml.workflow.dispatch(_time(now))
    payload = {"timers": t.to_dict(), "delivery": vars(d)}
    if fmt is Fmt.json:
        emit([], "json", payload=payload)
    else:
        console.print(dumps(payload), highlight=False)


@incidents_app.command("outbox")
def incidents_outbox(project: ProjectOpt = None, fmt: FormatOpt = Fmt.table,
                     status: Annotated[str | None, typer.Option(help="pending | delivered | covered | "
                                                                      "rerouted | dead")] = None) -> None:
    """Notification outbox: what is waiting, delivered, coalesced, rerouted or dead."""
    rows = open_project(project).workflow.outbox(status)
    emit(rows, fmt.value, title="通知发件箱 Outbox",
         columns=["id", "incident", "kind", "channel", "status", "attempts", "next_attempt_at", "last_error"])


# --------------------------------------------------------------------------------- review
@review_app.command("draft")
def review_draft(ref: IdArg, project: ProjectOpt = None, actor: ActorOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Create or refresh the review of an incident (impact, timeline and actions drafted)."""
    _show_review(open_project(project).review.draft(ref, actor=_actor(actor)), fmt)


@review_app.command("show")
def review_show(ref: IdArg, project: ProjectOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """The review document (Markdown) and what still blocks completing it."""
    _show_review(open_project(project).review.get(ref), fmt)


def _show_review(d: dict[str, Any], fmt: Fmt) -> None:
    if fmt is not Fmt.table:
        emit([d], fmt.value, payload=d)
        return
    console.print(d["markdown"], highlight=False, markup=False)
    if d["missing"]:
        console.print(f"[yellow]missing / 待填写:[/] {', '.join(d['missing'])}")


@review_app.command("edit")
def review_edit(
    ref: IdArg,
    section: Annotated[str, typer.Argument(help="summary | impact | timeline | root_cause | actions | lessons")],
    text: Annotated[str | None, typer.Argument(help="The text (or --file).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read the text from a file.")] = None,
    project: ProjectOpt = None, actor: ActorOpt = None, fmt: FormatOpt = Fmt.table,
) -> None:
    """Write one section of the review."""
    body = file.read_text(encoding="utf-8") if file else text
    if body is None:
        raise ConfigError("give the text or --file", zh="请提供内容或 --file")
    _show_review(open_project(project).review.edit(ref, section, body, actor=_actor(actor)), fmt)


@review_app.command("complete")
def review_complete(ref: IdArg, project: ProjectOpt = None, actor: ActorOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Complete the review (refused while a required section is empty); it joins the case library."""
    _show_review(open_project(project).review.complete(ref, actor=_actor(actor)), fmt)


@review_app.command("verify")
def review_verify(
    ref: IdArg,
    series: Annotated[Path, typer.Option("--series", help="CSV with columns time, actual, expected.")],
    effective_at: Annotated[str, typer.Option("--effective-at", help="When the fix took effect (ISO).")],
    action: Annotated[int | None, typer.Option("--action", help="Action item id.")] = None,
    project: ProjectOpt = None, actor: ActorOpt = None, fmt: FormatOpt = Fmt.table,
) -> None:
    """Verify the effect of a fix: the metric vs its expected value after it took effect."""
    with series.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"time", "actual", "expected"} <= set(rows[0]):
        raise ConfigError(f"{series}: expected a CSV with columns time, actual, expected",
                          zh=f"{series}：需要包含 time, actual, expected 列的 CSV")
    ts = [dt.datetime.fromisoformat(r["time"]) for r in rows]
    nan = float("nan")
    actual = [float(r["actual"]) if r["actual"] else nan for r in rows]
    expected = [float(r["expected"]) if r["expected"] else nan for r in rows]
    eff = _time(effective_at)
    assert eff is not None
    out = open_project(project).review.verify(ref, actual, expected, ts, eff, action_id=action, actor=_actor(actor))
    if fmt is Fmt.json:
        emit([], "json", payload=out)
    else:
        console.print(out["summary"], highlight=False)


@review_app.command("search")
def review_search(query: Annotated[str, typer.Argument(help="Words in Chinese or English.")],
                  project: ProjectOpt = None, fmt: FormatOpt = Fmt.table, limit: int = 20) -> None:
    """Search the case library (completed reviews)."""
    rows = open_project(project).review.search(query, limit)
    emit(rows, fmt.value, title="案例库 Case library", columns=["incident", "title", "verdict", "score", "root_cause"])


@review_app.command("similar")
def review_similar(ref: IdArg, project: ProjectOpt = None, fmt: FormatOpt = Fmt.table, limit: int = 5) -> None:
    """Past cases most like this incident, with what was done and whether it worked."""
    rows = open_project(project).review.similar(ref, limit)
    emit(rows, fmt.value, title="相似案例 Similar cases",
         columns=["incident", "title", "score", "verdict", "root_cause", "actions"])


@review_app.command("health")
def review_health(
    project: ProjectOpt = None, fmt: FormatOpt = Fmt.table,
    start: Annotated[str | None, typer.Option(help="Incidents triggered from (ISO).")] = None,
    end: Annotated[str | None, typer.Option(help="… until (ISO).")] = None,
    by: Annotated[str, typer.Option(help="overall | owner | team | metric")] = "team",
    now: NowOpt = None,
) -> None:
    """Loop health: MTTD, MTTA, MTTR, ack within SLA, actions on time, closure, overdue, repeats."""
    h = open_project(project).review.health(start=_time(start), end=_time(end), now=_time(now))
    if fmt is Fmt.json:
        emit([], "json", payload=h)
        return
    groups = {"overall": h["overall"]} if by == "overall" else h[f"by_{by}"]
    emit([{by: k, **v} for k, v in groups.items()], fmt.value, title="闭环健康度 Loop health",
         formatters={"ack_within_sla": "{:.0%}".format, "actions_on_time": "{:.0%}".format,
                     "closure_rate": "{:.0%}".format})


# --------------------------------------------------------------------------------- report
class ReportFmt(StrEnum):
    markdown = "markdown"
    html = "html"
    json = "json"


@report_app.command("weekly")
def report_weekly(
    project: ProjectOpt = None,
    week: Annotated[str | None, typer.Option(help="Any date in the week (default: last week).")] = None,
    fmt: Annotated[ReportFmt, typer.Option("--format", "-f", help="markdown | html | json")] = ReportFmt.markdown,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
    send: Annotated[list[str] | None, typer.Option("--send", help="Queue the summary to this channel.")] = None,
    now: NowOpt = None,
) -> None:
    """The weekly loop-health report (Markdown, HTML with charts, or JSON)."""
    ml = open_project(project)
    when = dt.date.fromisoformat(week) if week else None
    rep = ml.review.weekly_report(week_of=when, now=_time(now))
    text = rep.markdown if fmt is ReportFmt.markdown else rep.html if fmt is ReportFmt.html else dumps(
        {"title": rep.title, **rep.data})
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        typer.echo(text)
    if send:
        ids = ml.review.send_weekly_report(send, week_of=when, now=_time(now))
        ml.workflow.dispatch(_time(now))
        console.print(json.dumps(ids, ensure_ascii=False), highlight=False)
