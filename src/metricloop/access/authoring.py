"""Metric definitions written through the API or the UI.

How they coexist with hand-written YAML (the design, in short):

* **One home per definition.** Every metric lives in exactly one file under ``models/``.
  Definitions created or edited in the UI/API live in ``models/authored/<name>.yaml``, one
  metric per file, written only by MetricLoop. Hand-written files are never rewritten by the
  service (that would destroy their comments and layout and bypass code review): an edit of a
  metric whose home is a hand-written file is refused with a 409 that names the file and line.
* **Same validator.** The new definition is validated by the same pydantic models and
  cross-checks as the files (``build_catalog``) against the whole candidate catalog, before
  anything is written; errors carry ``models/authored/<name>.yaml`` line numbers.
* **Stored as a revision.** After the file is written the catalog reloads and
  ``revisions.sync`` records the change (calculation or metadata) with the user as author and
  the given reason — exactly what ``metricloop catalog validate`` records for file edits.
* **Git stays the source of truth.** The authored files are plain YAML in the project folder:
  commit them, review them, or move a metric into a hand-written file (the revision history
  follows the name, not the file).
* **No lost updates.** An update must send ``base_version``, the revision it was based on;
  if someone changed the metric since, it is a 409 (stale revision).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from metricloop.access.policy import Principal, readable
from metricloop.access.roles import Action
from metricloop.catalog import revisions
from metricloop.catalog.catalog import MODELS_DIR, build_catalog
from metricloop.catalog.models import NAME_PATTERN
from metricloop.errors import ConfigError, ConflictError, DefinitionError, Issue, Location, NotFoundError
from metricloop.yamlio import Document, load_document

if TYPE_CHECKING:
    from metricloop.access.service import AccessService
    from metricloop.context import Context

AUTHORED_DIR = f"{MODELS_DIR}/authored"
HEADER = ("# Written by MetricLoop (UI/API) — edit here or in the UI; commit it like any project file.\n"
          "# 由 MetricLoop 界面/接口写入：可在此编辑或在界面中修改，并像其他项目文件一样提交。\n")
_write_lock = threading.Lock()


@dataclass(frozen=True)
class SaveResult:
    name: str
    created: bool
    change: str | None  # created | calculation | metadata | None (nothing changed)
    version: int
    file: str


def authored_path(name: str) -> str:
    return f"{AUTHORED_DIR}/{name}.yaml"


def render(definition: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump({"metrics": [definition]}, allow_unicode=True, sort_keys=False, width=100)


def _document(ctx: Context, rel: str, text: str) -> Document:
    """Parse ``text`` as if it were ``rel`` (line numbers for every field)."""
    tmp_dir = ctx.project.state_dir / "tmp"
    tmp_dir.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".yaml", dir=tmp_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        doc = load_document(Path(tmp), ctx.project.root)
    finally:
        os.unlink(tmp)
    doc.file = rel  # locations of issues found later point at the authored file
    return doc


def save_metric(access: AccessService, principal: Principal, definition: dict[str, Any], *,
                base_version: int | None, reason: str | None = None) -> SaveResult:
    """Create or update one metric definition (see the module docstring for the rules);
    ``access``: the project's access service (``ml.access``), which audits the change."""
    ctx = access.ctx
    principal.require(Action.catalog_write)
    name = definition.get("name")
    if not isinstance(name, str) or not name:
        raise DefinitionError([Issue("required field is missing", Location(None, None, "name"))])
    if not re.match(NAME_PATTERN, name):
        raise DefinitionError([Issue(f"{name!r} is not a valid name (lower-case letters, digits and _)",
                                     Location(None, None, "name"))])
    rel = authored_path(name)
    with _write_lock:
        catalog = ctx.reload()
        existing = catalog.metrics.get(name)
        with ctx.store.session() as s:
            hist = revisions.history(s, name)
        current_version = hist[-1].version if hist else None
        if existing is not None:
            origin = catalog.origins.get(f"metric:{name}")
            home = origin.file if origin else None
            if home != rel:
                where = origin.location() if origin else home
                raise ConflictError(
                    f"metric '{name}' is defined in {where}, a hand-written project file; change it there "
                    "(it is reviewed like code)",
                    zh=f"指标 '{name}' 定义在项目文件 {where} 中，请在该文件中修改（项目文件按代码评审）")
            if not readable(catalog, principal, name):
                raise NotFoundError(f"unknown metric '{name}'", zh=f"未知指标 '{name}'")
            if base_version is None:
                raise ConflictError(f"metric '{name}' already exists (version {current_version}); send "
                                    "base_version to update it", zh=f"指标 '{name}' 已存在，更新时请提供 base_version")
        if base_version is not None and base_version != current_version:
            raise ConflictError(
                f"stale revision: metric '{name}' is at version {current_version}, not {base_version}; "
                "reload it and apply your change again",
                zh=f"版本冲突：指标 '{name}' 当前为第 {current_version} 版，而不是第 {base_version} 版")
        text = render(definition)
        doc = _document(ctx, rel, text)
        docs = [load_document(f, ctx.project.root)
                for f in sorted([*(ctx.project.root / MODELS_DIR).glob("**/*.yaml"),
                                 *(ctx.project.root / MODELS_DIR).glob("**/*.yml")])
                if f.relative_to(ctx.project.root).as_posix() != rel]
        build_catalog([*docs, doc])  # raises DefinitionError with every located issue
        target = ctx.project.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".yaml.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        try:
            ctx.reload()
            changes = ctx.sync_catalog(author=principal.username, reason=reason)
        except ConfigError:
            target.unlink()  # never leave a file the catalog cannot load
            ctx.reload()
            raise
    mine = [c for c in changes if c.kind == "metric" and c.name == name]
    with ctx.store.session() as s:
        version = revisions.history(s, name)[-1].version
    change = mine[0].change if mine else None
    access.audit(principal.username, "metric.create" if existing is None else "metric.update", name,
                    change=change, version=version, reason=reason, file=rel)
    return SaveResult(name, existing is None, change, version, rel)
