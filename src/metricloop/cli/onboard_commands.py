"""A new user's first commands: ``catalog infer``, ``monitors suggest``, ``schema``.

With ``init`` and ``ingest`` they take a company from a CSV to watched metrics:

    metricloop init shop && cd shop
    metricloop ingest ../orders.csv --table orders
    metricloop catalog infer orders --write
    metricloop monitors suggest --write
    metricloop run --backfill-from 2026-08-01
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from metricloop.cli.commands import Fmt, FormatOpt, ProjectOpt, catalog_app, locale_of, open_project
from metricloop.cli.detect_commands import monitors_app
from metricloop.cli.main import app
from metricloop.cli.render import console, emit
from metricloop.errors import ConfigError
from metricloop.i18n import normalize_locale

WriteOpt = Annotated[bool, typer.Option("--write", help="Write the file (default: show it).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]


def _say(loc: str, en: str, zh: str) -> str:
    return zh if loc.startswith("zh") else en


def _write(path: Path, text: str, force: bool, loc: str) -> None:
    if path.exists() and not force:
        raise ConfigError(f"{path} exists (use --force to overwrite it)", zh=f"{path} 已存在（用 --force 覆盖）")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(_say(loc, f"[green]wrote[/] {path}", f"[green]已写入[/] {path}"), highlight=False)


@catalog_app.command("infer")
def catalog_infer(
    table: Annotated[str, typer.Argument(help="Warehouse table to describe (loaded with `metricloop ingest`).")],
    project: ProjectOpt = None,
    name: Annotated[str | None, typer.Option(help="Semantic model name (default: the table's).")] = None,
    write: WriteOpt = False,
    force: ForceOpt = False,
) -> None:
    """Propose a semantic model and metrics from a table's columns (time, ids, slices, numbers)."""
    from metricloop import scaffold
    from metricloop.catalog.infer import infer_model, safe_name

    ml = open_project(project)
    loc = locale_of(ml)
    profile = scaffold.profile_table(ml, table)
    text = scaffold.infer_yaml(profile, infer_model(profile, name=name))
    if not write:
        console.print(text, highlight=False, markup=False, soft_wrap=True)
        console.print(_say(loc, "(shown only: add --write to save it under models/)",
                           "（仅显示：加 --write 写入 models/）"), highlight=False)
        return
    _write(ml.project.path("models", f"{safe_name(name or table.split('.')[-1])}.yaml"), text, force, loc)
    ml.reload()
    ml.validate()
    ml.sync_catalog(reason=f"catalog infer {table}")


@monitors_app.command("suggest")
def monitors_suggest(
    project: ProjectOpt = None,
    write: WriteOpt = False,
    force: ForceOpt = False,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Propose monitors from the catalog (tier, polarity) and the data (grain, slices by volume)."""
    from metricloop import scaffold

    ml = open_project(project)
    loc = locale_of(ml)
    found = scaffold.suggest(ml)
    rows = [{"monitor": s.monitor["name"], "metric": s.monitor["metric"], "by": ", ".join(s.monitor.get("by", [])),
             "grain": s.monitor["grain"], "detector": (s.monitor.get("detectors") or [{"type": "default"}])[0]["type"],
             "why": s.why_zh if loc.startswith("zh") else s.why} for s in found]
    if fmt is Fmt.json:
        emit([], "json", payload={"monitors": [s.monitor for s in found]})
    else:
        emit(rows, fmt.value, columns=["monitor", "metric", "by", "grain", "detector", "why"],
             title=_say(loc, "suggested monitors", "建议的监控"))
    if not found:
        console.print(_say(loc, "nothing to suggest: every active metric with data is watched already",
                           "没有可建议的：有数据的启用指标都已有监控"), highlight=False)
        return
    if write:
        _write(ml.project.path("monitors", "suggested.yaml"), scaffold.suggestions_yaml(found), force, loc)
        ml.detection.monitors()  # validates the written file against the catalog now, not at the first run
    elif fmt is Fmt.table:
        console.print(_say(loc, "(shown only: add --write to save monitors/suggested.yaml)",
                           "（仅显示：加 --write 写入 monitors/suggested.yaml）"), highlight=False)


@app.command("schema")
def schema(
    kind: Annotated[str | None, typer.Argument(help="project, models, monitors, owners, channels, calendars.")] = None,
    write: Annotated[Path | None, typer.Option("--write", help="Write every schema into this folder.")] = None,
) -> None:
    """Print the JSON Schema of a project file (editors validate and complete YAML with it)."""
    from metricloop import schemas

    loc = normalize_locale(os.environ.get("METRICLOOP_LOCALE") or os.environ.get("LANG", "en"))
    if write is not None:
        for path in schemas.write_all(write):
            console.print(_say(loc, f"[green]wrote[/] {path}", f"[green]已写入[/] {path}"), highlight=False)
        return
    if kind is None:
        emit([{"kind": k, "files": files, "title": title} for k, (_, files, title) in schemas.KINDS.items()],
             "table", columns=["kind", "files", "title"])
        return
    typer.echo(schemas.dumps(schemas.generate(kind)), nl=False)
