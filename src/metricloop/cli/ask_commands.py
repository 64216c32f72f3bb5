"""``metricloop ask "QUESTION"``: the assistant (智能问数) in the terminal — the interpretation, the
rows as a table with a sparkline, the compiled SQL, and what to ask next."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from metricloop.cli.commands import Fmt, FormatOpt, ProjectOpt, locale_of, open_project
from metricloop.cli.main import app
from metricloop.cli.render import console, emit
from metricloop.errors import QueryError


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question in Chinese or English, e.g. 上周华东的GMV为什么下降了？")],
    project: ProjectOpt = None,
    now: Annotated[str | None, typer.Option(help="Take 'today' as this time (default: the data's newest time).")]
    = None,
    sql: Annotated[bool, typer.Option("--sql/--no-sql", help="Print the compiled query (table format).")] = True,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Ask a question about the metrics; answered through the catalog and the query compiler."""
    from metricloop.assistant.charts import sparkline

    at = None
    if now:
        try:
            at = dt.datetime.fromisoformat(now)
        except ValueError:
            raise QueryError(f"--now {now!r} is not a date or time like 2026-09-30 or 2026-09-30T18:00",
                             zh=f"--now {now!r} 不是 2026-09-30 或 2026-09-30T18:00 这样的时间") from None
    ml = open_project(project)
    try:
        answer = ml.assistant.ask(question, now=at)
        payload = answer.to_dict()
        if fmt is Fmt.json:
            emit([], "json", payload=payload)
            return
        if fmt is Fmt.csv:
            emit(answer.rows, "csv", columns=answer.columns or None)
            return
        loc = locale_of(ml)
        console.print(f"[bold]{payload['text'][loc]}[/]", highlight=False)
        for choice in answer.clarify:
            for o in choice.get("options", []):
                console.print(f"  · {o['label'][loc]}  ({o['value']})", highlight=False)
        if answer.rows and answer.intent in ("define", "owner"):
            for row in answer.rows:  # one definition: field by field
                for key, value in row.items():
                    shown = ", ".join(map(str, value)) if isinstance(value, list) else value
                    console.print(f"  [dim]{key:>16}[/]  {'—' if shown in (None, '') else shown}", highlight=False)
        elif answer.rows:
            cols = answer.columns or list(answer.rows[0])
            emit(answer.rows[:50], "table", columns=cols, formatters=_formatters(cols))
            metric = answer.request.metrics[0] if answer.request and answer.request.metrics else None
            if metric and len(answer.rows) > 2 and metric in answer.rows[0]:
                console.print(f"{metric} {sparkline([r.get(metric) for r in answer.rows])}", highlight=False)
        if sql and answer.sql:
            console.print(f"[dim]{answer.sql}[/]", highlight=False)
        for s in answer.suggestions:
            console.print(f"[cyan]→ {s.render(loc)}[/]", highlight=False)
    finally:
        ml.close()


def _formatters(columns: list[str]) -> dict[str, Any]:
    """Changes as percentages, midnight timestamps as days (the JSON keeps raw values)."""
    out: dict[str, Any] = {}
    for c in columns:
        if c.endswith(("__pct", "relative_change", "contribution")):
            out[c] = lambda v: f"{v:+.1%}" if isinstance(v, int | float) else str(v)
        elif c.startswith("metric_time"):
            out[c] = lambda v: str(v)[:10] if str(v).endswith("T00:00:00") else str(v)
    return out
