"""``metricloop catalog import-metricflow`` / ``export-metricflow``: thin doors over ``ml.interop``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metricloop.cli.commands import Fmt, FormatOpt, ProjectOpt, catalog_app, open_project
from metricloop.cli.render import emit


def _pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        old, sep, new = v.partition("=")
        if not sep:
            raise typer.BadParameter(f"{v!r}: expected OLD=NEW, e.g. '$source_schema=analytics'")
        out[old] = new
    return out


@catalog_app.command("import-metricflow")
def import_metricflow(
    source: Annotated[Path, typer.Argument(help="MetricFlow folder, YAML file or semantic_manifest.json.")],
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: models/imported.yaml).")] = None,
    replace: Annotated[
        list[str] | None,
        typer.Option("--replace", help="Text substitution in table names, OLD=NEW (e.g. '$source_schema=mf')."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a file that was not written by an import.")] = False,
    project: ProjectOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Import dbt semantic-layer definitions; print what happened to every object."""
    ml = open_project(project)
    report = ml.interop.import_metricflow(source, out, substitutions=_pairs(replace or []), force=force)
    rows = [n.row() for n in report.notes]
    emit(
        rows,
        fmt.value,
        columns=["object", "level", "message"],
        title=f"imported into {report.path}: {report.counts}",
        payload={"path": str(report.path), "counts": report.counts, "objects": rows},
    )


@catalog_app.command("export-metricflow")
def export_metricflow(
    directory: Annotated[Path, typer.Argument(help="Folder to write MetricFlow YAML into.")],
    project: ProjectOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Write the project's definitions as MetricFlow YAML (governance under config.meta.metricloop)."""
    ml = open_project(project)
    report = ml.interop.export_metricflow(directory)
    rows = [{"file": str(f)} for f in report.files] + [{"file": "", **n.row()} for n in report.notes]
    emit(
        rows,
        fmt.value,
        title=f"exported to {report.out}",
        payload={
            "out": str(report.out),
            "files": [str(f) for f in report.files],
            "notes": [n.row() for n in report.notes],
        },
    )
