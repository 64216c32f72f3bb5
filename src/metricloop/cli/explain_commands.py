"""``metricloop explain METRIC --at TS``: why a metric moved, by slice and by driver."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from metricloop.catalog.grain import Grain  # not .models: --help need not import pydantic
from metricloop.cli.commands import Fmt, FormatOpt, ProjectOpt, _split, locale_of, open_project
from metricloop.cli.main import app
from metricloop.cli.render import console, emit
from metricloop.errors import QueryError


def _ts(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"--{name} {value!r} is not a date or timestamp like 2026-05-13 or 2026-05-13T19:00") from None


@app.command()
def explain(
    metric: Annotated[str, typer.Argument(help="Metric name.")],
    project: ProjectOpt = None,
    at: Annotated[str | None, typer.Option(help="The period to explain (its start), e.g. 2026-05-13.")] = None,
    grain: Annotated[Grain, typer.Option(help="Length of the period given by --at.")] = Grain.day,
    start: Annotated[str | None, typer.Option(help="Or a window: start (inclusive) ...")] = None,
    end: Annotated[str | None, typer.Option(help="... and end (exclusive).")] = None,
    baseline: Annotated[str | None, typer.Option(help="Start of the baseline period (default: --vs).")] = None,
    vs: Annotated[str, typer.Option(help="previous_period | last_week | last_year")] = "last_week",
    by: Annotated[str | None, typer.Option(help="Dimensions to search, comma-separated (default: all).")] = None,
    where: Annotated[str | None, typer.Option(help="Filter, as in `metricloop query`.")] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Drill-down, the slices that explain the change, and the metric-tree attribution."""
    ml = open_project(project)
    result = ml.explain.explain(
        metric,
        at=_ts(at, "at"),
        grain=grain,
        start=_ts(start, "start"),
        end=_ts(end, "end"),
        baseline=_ts(baseline, "baseline"),
        vs=vs,  # type: ignore[arg-type]  # checked by the service, which names the choices
        by=_split(by) or None,
        where=where,
    )
    payload = result.to_dict()
    if fmt is not Fmt.table:
        emit(
            result.top_causes(20),
            fmt.value,
            payload=payload,
            columns=["element", "actual", "expected", "change", "relative_change", "contribution"],
        )
        return
    loc = locale_of(ml)
    assert result.summary is not None
    console.print(f"[bold]{result.summary.render(loc)}[/]")
    console.print(
        f"period {result.start:%Y-%m-%d %H:%M} → {result.end:%Y-%m-%d %H:%M}, "
        f"baseline {result.baseline_start:%Y-%m-%d %H:%M}"
    )
    causes: list[dict[str, Any]] = result.top_causes(10)
    spec = ml.catalog.metric(metric).format or ",.2f"
    if causes:
        emit(
            causes,
            "table",
            title="原因切片 Slices that explain the change",
            columns=["element", "actual", "expected", "change", "relative_change", "contribution"],
            formatters={
                "actual": lambda v: format(v, spec),
                "expected": lambda v: format(v, spec),
                "change": lambda v: format(v, "+" + spec.lstrip("+")),
                "relative_change": lambda v: f"{v:+.1%}",
                "contribution": lambda v: f"{v:.0%}",
            },
        )
    if result.drilldown and not causes:  # nothing localized (or not additive): show where it moved most
        for dim in result.drilldown["dimensions"][:2]:
            emit(dim["rows"][:5], "table", title=f"下钻 Drill-down by {dim['dimension']}",
                 columns=["value", "actual", "expected", "change", "relative_change", "contribution"],
                 formatters={"actual": lambda v: format(v, spec), "expected": lambda v: format(v, spec),
                             "change": lambda v: format(v, "+" + spec.lstrip("+")),
                             "relative_change": lambda v: "n/a" if v is None else f"{v:+.1%}",
                             "contribution": lambda v: "n/a" if v is None else f"{v:.0%}"})
    if result.attribution:
        emit(
            result.attribution["drivers"],
            "table",
            title="指标树归因 Tree attribution " + ("(exact)" if result.attribution.get("exact") else "(estimate)"),
            columns=["name", "before", "after", "effect", "share"],
            formatters={"share": lambda v: f"{v:.0%}"},
        )
    for note in result.notes:
        console.print(f"[dim]{note.render(loc)}[/]")
