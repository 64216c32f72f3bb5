"""Interop use cases: import dbt/MetricFlow definitions into a project, export them back.

The mapping itself is pure (``interop.metricflow``); this service does the IO around it:
read the source, check the result together with the project's other definitions (an import
that would break the catalog writes nothing), write ``models/*.yaml``, write MetricFlow YAML.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from metricloop.catalog.catalog import MODELS_DIR, Catalog, build_catalog
from metricloop.errors import ConflictError
from metricloop.interop.metricflow import (
    ImportResult,
    Note,
    dump_yaml_documents,
    read_metricflow,
    to_metricflow,
    to_native,
)
from metricloop.yamlio import Document, load_document

if TYPE_CHECKING:
    from metricloop.context import Context

DEFAULT_IMPORT = Path(MODELS_DIR) / "imported.yaml"
_HEADER = (
    "# Imported from MetricFlow by `metricloop catalog import-metricflow`.\n"
    "# extensions.dbt keeps what MetricLoop does not use, so `export-metricflow` restores it.\n"
)


@dataclass
class ImportReport:
    """What an import wrote and what happened to each object."""

    path: Path
    counts: dict[str, int]
    notes: list[Note]
    catalog: Catalog


@dataclass
class ExportReport:
    out: Path
    files: list[Path] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


class InteropService:
    """``ml.interop``: MetricFlow import and export for one project."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def root(self) -> Path:
        return self.ctx.project.root

    def import_metricflow(
        self,
        source: Path,
        out: Path | None = None,
        *,
        substitutions: dict[str, str] | None = None,
        force: bool = False,
    ) -> ImportReport:
        """Import a MetricFlow folder, YAML file or ``semantic_manifest.json`` into ``models/``.

        The written file is validated together with the project's other definitions first;
        a file that exists and was not written by an import is only replaced with ``force``.
        """
        target = out if out is not None else DEFAULT_IMPORT
        target = target if target.is_absolute() else self.root / target
        result = to_native(
            read_metricflow(source),
            substitutions=substitutions,
            source_uri=str(source),
            existing=self._existing_names(target),
        )
        if target.exists() and not force and not _was_imported(target):
            raise ConflictError(
                f"{target} exists and was not written by an import; pass --force to replace it",
                zh=f"{target} 已存在且不是导入生成的文件；如需覆盖请加 --force",
            )
        catalog = self._check(result, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            _HEADER + yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        self.ctx.reload()
        return ImportReport(target, result.counts(), result.notes, catalog)

    def _other_documents(self, target: Path) -> list[Document]:
        folder = self.root / MODELS_DIR
        files = sorted([*folder.glob("**/*.yaml"), *folder.glob("**/*.yml")]) if folder.exists() else []
        return [load_document(f, self.root) for f in files if f.resolve() != target.resolve()]

    def _existing_names(self, target: Path) -> set[str]:
        """Measures and metrics of the project's other files (imported metrics may use them)."""
        names: set[str] = set()
        for doc in self._other_documents(target):
            data = doc.data if isinstance(doc.data, dict) else {}
            names.update(str(m.get("name")) for m in data.get("metrics") or [] if isinstance(m, dict))
            for sm in data.get("semantic_models") or []:
                if isinstance(sm, dict):
                    names.update(str(m.get("name")) for m in sm.get("measures") or [] if isinstance(m, dict))
        return names

    def _check(self, result: ImportResult, target: Path) -> Catalog:
        """The project's catalog as it will be after the import (raises DefinitionError if broken)."""
        docs = self._other_documents(target)
        rel = str(target.relative_to(self.root)) if target.is_relative_to(self.root) else str(target)
        return build_catalog([*docs, Document(rel, copy.deepcopy(result.document))])

    def export_metricflow(self, out_dir: Path) -> ExportReport:
        """Write every definition of the project as MetricFlow legacy YAML under ``out_dir``."""
        self.ctx.reload()  # validates: only a valid catalog is exported
        folder = self.root / MODELS_DIR
        files = sorted([*folder.glob("**/*.yaml"), *folder.glob("**/*.yml")]) if folder.exists() else []
        documents = _inline_measures([load_document(f, self.root).data or {} for f in files])
        out_files, notes = to_metricflow(documents)
        report = ExportReport(out_dir, notes=notes)
        for name, docs in sorted(out_files.items()):
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump_yaml_documents(docs), encoding="utf-8")
            report.files.append(path)
        return report


def _was_imported(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "source" in (data.get("extensions") or {}).get("dbt", {})


def _inline_measures(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Native simple metrics with an inline ``agg`` get a measure of their own (MetricFlow's legacy
    spec builds simple metrics on measures); the metric then names it."""
    documents = copy.deepcopy(documents)
    models = {m.get("name"): m for doc in documents for m in doc.get("semantic_models") or []}
    for metric in (m for doc in documents for m in doc.get("metrics") or []):
        if metric.get("type", "simple") != "simple" or metric.get("measure") or not metric.get("agg"):
            continue
        model = models.get(metric.get("semantic_model"))
        if model is None:
            continue
        measures = model.setdefault("measures", [])
        if any(m.get("name") == metric["name"] for m in measures):
            continue
        measure = {"name": metric["name"], "agg": metric.pop("agg")}
        for k in ("expr", "agg_params", "agg_time_dimension"):
            if k in metric:
                measure[k] = metric.pop(k)
        measures.append(measure)
        metric.pop("semantic_model")
        metric["measure"] = metric["name"]
    return documents
