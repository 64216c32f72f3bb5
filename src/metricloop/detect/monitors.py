"""Monitor definitions of a project: ``monitors/*.yaml`` files, checked against the catalog.

A file holds one monitor (a mapping with ``name``) or several under ``monitors:``. Every problem
is reported with file, line and field, all at once (like ``catalog validate``). Monitors
written through the service layer go through :func:`check_monitor` too, so a monitor is valid
in the same way wherever it comes from.

``spec_hash`` fingerprints what a monitor computes (not its description, owner or schedule):
when it changes, the anomalies the old definition found are re-judged, never left behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metricloop.catalog.catalog import Catalog, available_dimensions
from metricloop.catalog.models import Metric
from metricloop.detect.monitor import MonitorSpec
from metricloop.errors import DefinitionError, Issue, Location, MetricLoopError
from metricloop.yamlio import Document, load_document, parse_model

MONITORS_DIR = "monitors"

#: Fields that do not change what a monitor finds (excluded from ``spec_hash``).
PRESENTATION_FIELDS = frozenset({"description", "labels", "owner", "schedule", "timezone", "enabled"})


@dataclass(frozen=True)
class MonitorDef:
    """A validated monitor and where it was defined (``file:line`` or ``api``)."""

    spec: MonitorSpec
    origin: str  # file | api
    source: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def hash(self) -> str:
        return spec_hash(self.spec)


def spec_hash(spec: MonitorSpec) -> str:
    dump = spec.model_dump(mode="json", exclude_defaults=True)
    data = {k: v for k, v in dump.items() if k not in PRESENTATION_FIELDS}
    data["name"] = spec.name
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def definition(spec: MonitorSpec) -> dict[str, Any]:
    """The canonical dict of a monitor (what is stored in a revision and shown by the API)."""
    return spec.model_dump(mode="json", exclude_defaults=True) | {"name": spec.name, "metric": spec.metric}


def check_monitor(
    spec: MonitorSpec, catalog: Catalog, at: Callable[[tuple[str | int, ...]], Location] | None = None
) -> list[Issue]:
    """Cross-check a monitor with the catalog: its metric, dimensions (``by``, ``explore``), filter and
    composite inputs."""
    where = at or (lambda path: Location(field=".".join(str(p) for p in path) or None))
    metric: Metric | None = catalog.metrics.get(spec.metric)
    if metric is None:
        try:
            catalog.metric(spec.metric)
        except MetricLoopError as exc:
            return [Issue(exc.message, where(("metric",)))]
        return [Issue(f"unknown metric '{spec.metric}'", where(("metric",)))]
    issues: list[Issue] = []
    dims = available_dimensions(catalog, metric)
    for i, d in enumerate(spec.by):
        if d not in dims:
            known = ", ".join(sorted(x for x in dims if "__" not in x)) or "none"
            issues.append(Issue(f"metric '{metric.name}' has no dimension '{d}' (available: {known})",
                                where(("by", i))))
    for i, d in enumerate(spec.explore):
        if d not in dims:
            known = ", ".join(sorted(x for x in dims if "__" not in x)) or "none"
            issues.append(Issue(f"metric '{metric.name}' has no dimension '{d}' to explore (available: {known})",
                                where(("explore", i))))
    if spec.where:
        from metricloop.engine.filters import parse_filter

        try:
            used = parse_filter(spec.where).identifiers()
        except MetricLoopError as exc:
            issues.append(Issue(f"invalid filter: {exc.message}", where(("where",))))
        else:
            for name in sorted(used):
                if name not in dims and name.split("__")[0] != "metric_time":
                    issues.append(Issue(f"filter uses '{name}', not a dimension of '{metric.name}'", where(("where",))))
    for i, det in enumerate(spec.detectors):
        for j, rule in enumerate(det.params.get("rules", []) if det.type == "composite" else []):
            other = str(rule.get("metric") or "") if isinstance(rule, Mapping) else ""
            if other and other != "self" and other not in catalog.metrics:
                issues.append(Issue(f"composite rule reads unknown metric '{other}'",
                                    where(("detectors", i, "params", "rules", j, "metric"))))
    return issues


def parse_document(doc: Document, catalog: Catalog | None) -> tuple[list[MonitorDef], list[Issue]]:
    """The monitors of one parsed file and every problem found in it."""
    data = doc.data
    if data is None:
        return [], []
    if isinstance(data, Mapping) and "monitors" in data:
        extra = [k for k in data if k != "monitors"]
        issues = [doc.issue((k,), "unknown key next to 'monitors' (put it inside a monitor)") for k in extra]
        items = data["monitors"]
        if not isinstance(items, list):
            return [], [*issues, doc.issue(("monitors",), "expected a list of monitors")]
        bases: list[tuple[str | int, ...]] = [("monitors", i) for i in range(len(items))]
    elif isinstance(data, Mapping):
        issues, items, bases = [], [data], [()]
    else:
        return [], [doc.issue((), "a monitor file holds a mapping (one monitor) or 'monitors:' with a list")]
    out: list[MonitorDef] = []
    for base, item in zip(bases, items, strict=True):
        spec, found = parse_model(MonitorSpec, item, doc, base)
        issues += found
        if spec is None:
            continue
        if catalog is not None:
            issues += check_monitor(spec, catalog, lambda path, b=base: doc.location((*b, *path)))  # type: ignore[misc]
        out.append(MonitorDef(spec, "file", str(doc.location(base))))
    return out, issues


def load_monitor_files(root: Path, catalog: Catalog | None, folder: str = MONITORS_DIR) -> list[MonitorDef]:
    """Every monitor in ``root/monitors/*.yaml``; DefinitionError lists all problems at once.

    The project's company calendars (``root/calendars/*.yaml``) are read first, so monitors can
    name them in ``noise.calendars``."""
    from metricloop.detect.calendars import load_calendar_files

    load_calendar_files(root)
    d = root / folder
    files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")]) if d.is_dir() else []
    monitors: list[MonitorDef] = []
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            doc = load_document(path, root)
        except DefinitionError as exc:
            issues += exc.issues
            continue
        except MetricLoopError as exc:
            issues.append(Issue(exc.message, exc.location or Location(str(path.relative_to(root)))))
            continue
        found, problems = parse_document(doc, catalog)
        issues += doc.issues + problems
        for m in found:
            if m.name in seen:
                issues.append(Issue(f"monitor '{m.name}' is already defined at {seen[m.name]}",
                                    Location(*_split_source(m.source), field="name")))
                continue
            seen[m.name] = m.source or ""
            monitors.append(m)
    if issues:
        raise DefinitionError(issues)
    return monitors


def _split_source(source: str | None) -> tuple[str | None, int | None]:
    if not source:
        return None, None
    head = source.split(" ", 1)[0]
    file, _, line = head.rpartition(":")
    return (file, int(line)) if line.isdigit() else (head, None)
