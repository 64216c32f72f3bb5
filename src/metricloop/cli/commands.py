"""Foundation commands: init, catalog, ingest, query, checks, loads.

Each command is a few lines: open the project, call the facade, render. Every listing takes
``--format table|csv|json`` so scripts can read it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.tree import Tree

from metricloop.catalog.grain import Grain  # not .models: --help need not import pydantic
from metricloop.cli.fastdoor import query_key, remember_query
from metricloop.cli.main import app
from metricloop.cli.render import cell_formats, console, dumps, emit, err_console, format_specs, wall_clock, when
from metricloop.errors import ConfigError, DefinitionError, Issue, Location, MetricLoopError
from metricloop.i18n import Text, normalize_locale
from metricloop.secrets import redact

if TYPE_CHECKING:  # the facade pulls in SQLAlchemy, DuckDB, pyarrow: import it only when a command runs
    from metricloop.service import MetricLoop


class LoadMode(StrEnum):
    append = "append"
    replace = "replace"  # type: ignore[assignment]  # shadows str.replace: the CLI value


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="Project folder (default: $METRICLOOP_PROJECT or the current folder)."),
]
FormatOpt = Annotated[Fmt, typer.Option("--format", "-f", help="Output format.")]


def open_project(project: Path | None) -> MetricLoop:
    from metricloop.localtime import set_display_timezone  # it loads pydantic: not for --help
    from metricloop.service import MetricLoop

    ml = MetricLoop.open(project)
    set_display_timezone(ml.project.tz)  # one timezone rule: every time printed in the project's zone
    return ml


def locale_of(ml: MetricLoop) -> str:
    return normalize_locale(os.environ.get("METRICLOOP_LOCALE") or ml.project.config.locale)


# ---------------------------------------------------------------------------------- init
@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    demo: Annotated[bool, typer.Option("--demo", help="Write the demo company and load its data.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    scale: Annotated[float, typer.Option(help="Demo data volume (1.0 ≈ 5,000 orders a day).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Demo random seed (same seed, same data).")] = 42,
    timezone: Annotated[str, typer.Option(help="IANA timezone of the data and schedules.")] = "Asia/Shanghai",
    locale: Annotated[str, typer.Option(help="zh-CN or en: language of messages and the UI.")] = "zh-CN",
) -> None:
    """Scaffold a project that runs (settings, owners, channels, schemas), or with --demo the demo company."""
    from metricloop import scaffold

    if demo:
        with _progress() as bar:
            task = bar.add_task("demo", total=1.0)
            summary = scaffold.init_demo(
                directory,
                force=force,
                scale=scale,
                seed=seed,
                progress=lambda step, frac: bar.update(task, description=step, completed=frac),
            )
        console.print(
            f"[green]demo project ready[/] in {directory} — "
            f"{summary['rows']:,} rows in {len(summary['tables'])} tables, {summary['metrics']} metrics"
        )
        console.print(f"try: metricloop query gmv --by region --grain month --project {directory}")
    else:
        from metricloop.project import ProjectConfig

        ProjectConfig(timezone=timezone, locale=normalize_locale(locale))  # a bad zone fails before writing
        scaffold.init_empty(directory, force=force, timezone=timezone, locale=normalize_locale(locale))
        zh = normalize_locale(locale) == "zh-CN"
        console.print(f"[green]{'项目已创建' if zh else 'project created'}[/] {directory}", highlight=False)
        steps = [
            f"metricloop ingest orders.csv --table orders -p {directory}",
            f"metricloop catalog infer orders --write -p {directory}",
            f"metricloop monitors suggest --write -p {directory}",
            f"metricloop run --backfill-from 2026-01-01 -p {directory}",
        ]
        console.print("下一步：" if zh else "next:", highlight=False)
        for line in steps:
            console.print(f"  {line}", highlight=False, markup=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


# ---------------------------------------------------------------------------------- catalog
catalog_app = typer.Typer(
    help="Metric center: validate, list and show governed metric definitions.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("validate")
def catalog_validate(project: ProjectOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Check every definition; print all problems with file, line and field; record revisions.

    Exit code 0 = valid, 1 = problems found, 2 = could not run (no project, unreadable file).
    """
    with could_not_run():
        ml = open_project(project)
    with could_not_run(ml):
        try:
            catalog = ml.validate()
        except ConfigError as exc:  # DefinitionError, or YAML that does not parse: problems found
            report_definition_errors(exc, fmt, locale_of(ml))
        changes = ml.sync_catalog()
    payload = {
        "valid": True,
        "semantic_models": len(catalog.semantic_models),
        "metrics": len(catalog.metrics),
        "changes": [vars(c) for c in changes],
        "problems": [],
    }
    if fmt is Fmt.json:
        emit([], "json", payload=payload)
        return
    console.print(f"[green]✓[/] {len(catalog.metrics)} metrics, {len(catalog.semantic_models)} semantic models valid")
    for c in changes:
        console.print(f"  {c.change:<12} {c.kind} {c.name} → v{c.version}")


@catalog_app.command("list")
def catalog_list(
    project: ProjectOpt = None,
    fmt: FormatOpt = Fmt.table,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Name, label, synonym or tag.")] = None,
    tier: Annotated[str | None, typer.Option(help="north_star | primary | secondary | diagnostic")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include retired metrics.")] = False,
) -> None:
    """The metric dictionary."""
    ml = open_project(project)
    loc = locale_of(ml)
    rows = []
    for m in ml.metrics(search, tier, include_retired=all_):
        rows.append(
            {
                "name": m.name,
                "label": m.display_label(loc),
                "type": m.type.value,
                "tier": m.tier.value,
                "unit": m.unit or "",
                "polarity": m.polarity.value,
                "lifecycle": m.lifecycle.value,
                "owners": ", ".join(m.owners.business),
                "synonyms": ", ".join(m.synonyms),
            }
        )
    emit(
        rows,
        fmt.value,
        title="指标字典 Metric dictionary",
        columns=["name", "label", "type", "tier", "unit", "polarity", "lifecycle", "owners", "synonyms"],
    )


@catalog_app.command("show")
def catalog_show(
    metric: Annotated[str, typer.Argument(help="Metric name.")],
    project: ProjectOpt = None,
    fmt: FormatOpt = Fmt.table,
    show_tree: Annotated[bool, typer.Option("--tree", help="Show the metric tree below it.")] = False,
) -> None:
    """One metric: 口径, formula, owners, lifecycle, revisions (and --tree)."""
    ml = open_project(project)
    ml.sync_catalog()
    detail = ml.metric_detail(metric)
    if fmt is not Fmt.table:
        emit(detail["revisions"], fmt.value, payload=detail)
        return
    loc = locale_of(ml)
    m = ml.catalog.metric(metric)
    d = detail["definition"]
    console.print(
        f"[bold]{m.display_label(loc)}[/] ({m.name}) — {m.type.value}, {m.tier.value}, {m.lifecycle.value}"
        + (f" → replaced by {m.replaced_by}" if m.replaced_by else "")
    )
    if m.business_definition:
        console.print(f"口径 / definition: {m.business_definition.get(loc)}")
    if m.description:
        console.print(f"description: {m.description.get(loc)}")
    calc = {
        k: d[k]
        for k in (
            "measure",
            "semantic_model",
            "agg",
            "expr",
            "numerator",
            "denominator",
            "input_metrics",
            "input_metric",
            "window",
            "grain_to_date",
            "filter",
        )
        if k in d
    }
    console.print(f"calculation: {json.dumps(calc, ensure_ascii=False)}")
    console.print(
        f"unit: {m.unit or '-'}   format: {m.format or '-'}   polarity: {m.polarity.value}   "
        f"additivity: {detail['additivity']}"
    )
    console.print(
        f"owners: business={', '.join(m.owners.business) or '-'} technical={', '.join(m.owners.technical) or '-'}"
    )
    if m.synonyms or m.tags:
        console.print(f"synonyms: {', '.join(m.synonyms) or '-'}   tags: {', '.join(m.tags) or '-'}")
    console.print(f"dimensions: {', '.join(detail['dimensions'])}")
    console.print(f"defined at: {detail['source']}")
    emit(
        detail["revisions"],
        "table",
        title="revisions 版本历史",
        columns=["version", "change", "calc_hash", "meta_hash", "author", "reason", "created_at"],
    )
    if show_tree:
        console.print(_rich_tree(detail["tree"], ml, loc))


def report_definition_errors(exc: MetricLoopError, fmt: Fmt, locale: str = "en") -> NoReturn:
    """Every problem of a validation, one line each (or as JSON with ``problems``), then exit 1."""
    from metricloop.project_check import translate

    issues = exc.issues if isinstance(exc, DefinitionError) else [Issue(exc.message, exc.location or Location())]
    if fmt is Fmt.json:
        problems = [{"severity": "error", **{k: v for k, v in vars(i.location).items() if v is not None},
                     "message": translate(i.message, locale)} for i in issues]
        emit([], "json", payload={"valid": False, **exc.to_dict(), "problems": problems})
    else:
        for issue in issues:
            where = str(issue.location)
            text = translate(issue.message, locale)
            err_console.print(f"[red]✗[/] {redact(f'{where}: {text}' if where else text)}", highlight=False)
        err_console.print(VALIDATE_TEXT["problems"].render(locale, n=len(issues)), highlight=False)
    raise typer.Exit(1)


@contextmanager
def could_not_run(ml: MetricLoop | None = None) -> Iterator[None]:
    """A validation that cannot run at all (no project, unreadable file, state store down): exit 2."""
    try:
        yield
    except (MetricLoopError, OSError) as exc:
        locale = locale_of(ml) if ml is not None else normalize_locale(os.environ.get("METRICLOOP_LOCALE"))
        text = exc.localized(locale) if isinstance(exc, MetricLoopError) else f"{exc.filename}: {exc.strerror}"
        err_console.print(f"[bold red]error:[/] {redact(text)}", highlight=False)
        raise typer.Exit(2) from None


# ---------------------------------------------------------------------------------- validate
VALIDATE_TEXT = {
    "problems": Text(en="{n} problem(s)", zh="{n} 个问题"),
    "valid": Text(en="project valid: {counts}", zh="项目有效：{counts}"),
    "refused": Text(en="{summary}: not starting (fix the files above; `metricloop validate` checks them)",
                    zh="{summary}：拒绝启动（请先修正以上问题；`metricloop validate` 可检查）"),
}


@app.command("validate")
def validate_project(
    project: ProjectOpt = None,
    fmt: FormatOpt = Fmt.table,
    no_env: Annotated[bool, typer.Option("--no-env", help="Do not check that ${ENV} variables are set "
                                         "(a CI job without the production secrets).")] = False,
) -> None:
    """Check the whole project: metricloop.yaml, models, monitors, owners.yaml, channels.yaml.

    Every problem with file, line and field. Exit code 0 = valid, 1 = problems found (errors, or
    ${ENV} variables that are not set), 2 = could not run (no project, unreadable file).
    """
    from metricloop.project_check import check_project, project_locale, resolve_root

    root = resolve_root(project)
    locale = project_locale(root)
    with could_not_run():
        report = check_project(root, env=not no_env)
    if fmt is Fmt.json:
        emit([], "json", payload=report.to_dict(locale))
    elif fmt is Fmt.csv:
        emit([p.to_dict(locale) for p in report.problems], "csv",
             columns=["severity", "area", "file", "line", "field", "message"])
    else:
        print_problems(report, locale)
        if not report.problems:
            counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
            console.print(f"[green]✓[/] {VALIDATE_TEXT['valid'].render(locale, counts=counts)}", highlight=False)
    if report.problems:
        raise typer.Exit(1)


def print_problems(report: Any, locale: str) -> None:
    """One line per problem on stderr (errors ✗, unset variables !), then the counts."""
    for p in report.problems:
        mark = "[red]✗[/]" if p.severity == "error" else "[yellow]![/]"
        err_console.print(f"{mark} {redact(p.render(locale))}", highlight=False)
    if report.problems:
        err_console.print(report.summary(locale), highlight=False)


def gate_project(project: Path | None) -> None:
    """Before ``run`` / ``serve``: refuse to start on an invalid project (exit 1), before anything is stored.

    Unset ``${ENV}`` variables are printed but do not stop the start (their channel's messages
    wait in the outbox until the variable is set).
    """
    from metricloop.project_check import check_project, project_locale, resolve_root

    root = resolve_root(project)
    locale = project_locale(root)
    report = check_project(root)
    if report.errors:
        print_problems(report, locale)
        err_console.print(VALIDATE_TEXT["refused"].render(locale, summary=report.summary(locale)), highlight=False)
        raise typer.Exit(1)
    for p in report.warnings:
        err_console.print(f"[yellow]![/] {redact(p.render(locale))}", highlight=False)


def _rich_tree(node: dict[str, Any], ml: MetricLoop, loc: str, parent: Tree | None = None) -> Tree:
    m = ml.catalog.metrics.get(node["metric"])
    label = f"[bold]{node['metric']}[/] {m.display_label(loc) if m else ''}"
    if node["relation"]:
        sign = {1: "+", -1: "−"}.get(node["sign"], "") if node["relation"] == "additive" else ""
        kind = node["relation"] + ("" if node["derived"] else " (declared)")
        label = f"{sign}{label} [dim]{kind}{' ↺' if node.get('repeated') else ''}[/]"
    branch = parent.add(label) if parent is not None else Tree(label)
    for child in node["children"]:
        _rich_tree(child, ml, loc, branch)
    return branch


# ---------------------------------------------------------------------------------- query
def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@app.command()
def query(
    metrics: Annotated[str, typer.Argument(help="Metric name(s), comma-separated.")],
    project: ProjectOpt = None,
    by: Annotated[str | None, typer.Option("--by", help="Dimensions to group by, comma-separated.")] = None,
    grain: Annotated[Grain | None, typer.Option(help="Group by metric_time at this grain.")] = None,
    start: Annotated[str | None, typer.Option(help="First period (inclusive), e.g. 2026-01-01.")] = None,
    end: Annotated[str | None, typer.Option(help="Last period (inclusive).")] = None,
    where: Annotated[str | None, typer.Option(help="Filter, e.g. \"region = '华东' and channel in ('app')\".")] = None,
    order: Annotated[str | None, typer.Option(help="Order by output columns; '-col' descending.")] = None,
    limit: Annotated[int | None, typer.Option(help="Max rows.")] = None,
    compare: Annotated[str | None, typer.Option(help="previous_period | last_week | last_year")] = None,
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the compiled SQL too (only the SQL with --dry-run).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compile only.")] = False,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Query metrics by dimensions over time: compiled to SQL and run in the warehouse."""
    from metricloop.engine.query import MetricQuery

    ml = open_project(project)
    try:
        q = MetricQuery(
            metrics=_split(metrics),
            group_by=_split(by),
            grain=grain,
            where=where,
            start=start,
            end=end,
            order_by=_split(order),
            limit=limit,
            compare=compare,
        )
    except ValueError as exc:
        raise ConfigError(_first_error(exc)) from None
    params = {"metrics": metrics, "by": by, "grain": grain.value if grain else None, "start": start, "end": end,
              "where": where, "order": order, "limit": limit, "compare": compare}
    key = query_key(ml.project.root, params)  # before compiling: the files it compiles from
    if dry_run:
        compiled = ml.compile(q)
        remember_query(ml, params, compiled, key)
        console.print(compiled.sql, highlight=False, soft_wrap=True)
        return
    result, rows = ml.query_rows(q)
    remember_query(ml, params, result, key)  # the next identical call skips building the CLI
    if sql:
        err_console.print(result.sql, highlight=False, soft_wrap=True)
    emit(
        rows,
        fmt.value,
        columns=[c.name for c in result.columns],
        formatters=display_formats(ml, result.columns),
        payload={"sql": result.sql, "columns": [vars(c) for c in result.columns], "rows": rows},
    )


def display_formats(ml: MetricLoop, columns: list[Any]) -> dict[str, Any]:
    """Cell formatters for a result: each metric's own format and unit (¥, %, counts without
    decimals, also when no format is declared), periods shown at their grain."""
    return cell_formats(format_specs(ml.catalog, columns))


def _first_error(exc: ValueError) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
    return str(exc)


# ---------------------------------------------------------------------------------- ingest
@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="CSV/Parquet file or HTTP(S) URL returning JSON.")],
    table: Annotated[str, typer.Option("--table", "-t", help="Warehouse table to load into.")],
    project: ProjectOpt = None,
    mode: Annotated[LoadMode, typer.Option(help="append: add rows; replace: swap the table.")] = LoadMode.append,
    schema: Annotated[
        str | None, typer.Option(help="Declared columns, e.g. 'id:BIGINT,amount:DOUBLE,t:TIMESTAMP'.")
    ] = None,
    time_column: Annotated[str | None, typer.Option(help="Event-time column (freshness).")] = None,
    records: Annotated[
        str | None, typer.Option(help="Path of the records list in a JSON payload, e.g. data.items.")
    ] = None,
    add_columns: Annotated[
        bool, typer.Option("--add-columns", help="Add the file's extra columns to the table (else reported, ignored).")
    ] = False,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Load data into the embedded warehouse; bad rows are reported, good rows still load.

    Types come from --schema, else from the existing table, else they are inferred (and shown).
    """
    declared = None
    if schema:
        declared = {}
        for part in _split(schema):
            col, _, typ = part.partition(":")
            if not typ:
                raise ConfigError(f"--schema entry {part!r} must look like column:TYPE")
            declared[col.strip()] = typ.strip()
    ml = open_project(project)
    with _progress() as bar:
        task = bar.add_task(f"loading {table}", total=1.0)
        result, checks = ml.ingest(
            source,
            table,
            mode=mode.value,
            schema=declared,
            time_column=time_column,
            records_path=records,
            add_columns=add_columns,
            progress=lambda f: bar.update(task, completed=f),
        )
    payload = {
        "table": result.table,
        "source": result.source,
        "status": result.status,
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
        "max_event_time": wall_clock(result.max_event_time),  # the data's wall clock, with its offset
        "types": result.types,
        "types_from": result.types_from,
        "notes": result.notes,
        "rejects": [vars(r) for r in result.rejects],
        "checks": [vars(c) for c in checks],
    }
    if fmt is Fmt.json:
        emit([], "json", payload=payload)
    else:
        colour = {"ok": "green", "partial": "yellow", "failed": "red"}[result.status]
        console.print(
            f"[{colour}]{result.status}[/]: {result.rows_loaded:,} rows loaded into {result.table}, "
            f"{result.rows_rejected:,} rejected; newest event {when(wall_clock(result.max_event_time))}"
        )
        origin = {"schema": "--schema", "table": f"table {result.table}", "inferred": "inferred"}[result.types_from]
        console.print(
            f"types ({origin}): " + ", ".join(f"{c} {t}" for c, t in result.types.items()), markup=False
        )
        for note in result.notes:
            console.print(f"note: {note}", markup=False)
        if result.rejects:
            emit(
                [vars(r) for r in result.rejects[:50]],
                "table",
                title="rejected rows 被拒绝的行",
                columns=["file", "line", "column", "reason"],
            )
            if len(result.rejects) > 50:
                console.print(f"… {len(result.rejects) - 50} more (metricloop loads --rejects ID)")
        if checks:
            emit(
                [vars(c) for c in checks],
                "table",
                title="checks 数据检查",
                columns=["check", "status", "observed", "threshold", "detail"],
            )
    if result.status == "failed":
        raise typer.Exit(1)


@app.command()
def loads(
    project: ProjectOpt = None,
    table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
    rejects: Annotated[int | None, typer.Option(help="Show the rejected rows of this load id.")] = None,
    limit: int = 50,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Ingest history: row counts, rejects and freshness per load."""
    from contextlib import suppress

    from metricloop.errors import MetricLoopError
    from metricloop.ingest.run import reconcile

    ml = open_project(project)
    with suppress(MetricLoopError):  # settle loads of a process that died mid-load (needs the warehouse)
        reconcile(ml.ctx)
    if rejects is not None:
        rows: list[dict[str, Any]] = [
            {"line": r.line, "column": r.column, "reason": r.reason, "raw": r.raw} for r in ml.rejects(rejects)
        ]
        emit(rows, fmt.value, columns=["line", "column", "reason", "raw"], title=f"rejects of load {rejects}")
        return
    rows = [
        {
            "id": r.id,
            "table": r.table_name,
            "status": r.status,
            "rows_loaded": r.rows_loaded,
            "rows_rejected": r.rows_rejected,
            "max_event_time": r.max_event_time,
            "source": r.source,
            "finished_at": r.finished_at,
        }
        for r in ml.loads(table, limit)
    ]
    emit(
        rows,
        fmt.value,
        title="loads 数据加载",
        columns=["id", "table", "status", "rows_loaded", "rows_rejected", "max_event_time", "source", "finished_at"],
    )


checks_app = typer.Typer(
    help="Table checks: freshness SLA, row-count drop, null rate, duplicate keys.", no_args_is_help=True
)
app.add_typer(checks_app, name="checks")


@checks_app.command("run")
def checks_run(
    project: ProjectOpt = None, table: Annotated[str | None, typer.Option()] = None, fmt: FormatOpt = Fmt.table
) -> None:
    """Run the configured checks now and store the results."""
    ml = open_project(project)
    results = ml.run_checks(table)
    emit([vars(r) for r in results], fmt.value, columns=["table", "check", "status", "observed", "threshold", "detail"])
    if any(r.status != "pass" for r in results):
        raise typer.Exit(1)


@checks_app.command("list")
def checks_list(
    project: ProjectOpt = None,
    table: Annotated[str | None, typer.Option()] = None,
    limit: int = 50,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Stored check results, newest first."""
    ml = open_project(project)
    rows = [
        {
            "table": r.table_name,
            "check": r.check,
            "status": r.status,
            "observed": r.observed,
            "threshold": r.threshold,
            "detail": r.detail,
            "checked_at": r.checked_at,
        }
        for r in ml.check_results(table, limit)
    ]
    emit(rows, fmt.value, columns=["table", "check", "status", "observed", "threshold", "detail", "checked_at"])


def _today() -> dt.date:
    return dt.date.today()


def _print_json(value: Any) -> None:
    console.print_json(dumps(value))
