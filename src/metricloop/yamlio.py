"""YAML in, validated models out — with the file, line and field of every problem.

All project files (metricloop.yaml, models/, monitors/, owners.yaml, channels.yaml) are read
through :func:`load_document` and checked with :func:`parse_model`, so an error always reads like
``models/orders.yaml:14 metrics[2].agg: 'summ' is not one of sum, count, ...``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from metricloop.errors import ConfigError, DefinitionError, Issue, Location

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def field_path(path: Sequence[str | int]) -> str:
    """``("metrics", 2, "agg")`` → ``metrics[2].agg``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Document:
    """A parsed YAML file with a line number for every key and list item."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def location(self, path: Sequence[str | int]) -> Location:
        return Location(self.file, self.line(path), field_path(path) or None)

    def issue(self, path: Sequence[str | int], message: str) -> Issue:
        return Issue(message, self.location(path))


def _index(node: yaml.Node, path: PathKey, doc: Document) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                doc.issues.append(
                    Issue(
                        f"duplicate key '{key}'",
                        Location(doc.file, key_node.start_mark.line + 1, field_path((*path, key))),
                    )
                )
            seen.add(key)
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
            _index(value_node, (*path, key), doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), doc)


def load_document(path: Path, root: Path | None = None) -> Document:
    """Read and parse one YAML file; syntax errors become a ConfigError with the line."""
    rel = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"file not found: {rel}", zh=f"文件不存在：{rel}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{rel} is not UTF-8 text ({exc.reason})", zh=f"{rel} 不是 UTF-8 文本") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            f"invalid YAML: {exc.problem or exc}",
            zh=f"YAML 语法错误：{exc.problem or exc}",
            location=Location(rel, line),
        ) from None
    doc = Document(rel, data)
    if node is not None:
        _index(node, (), doc)
    return doc


def _describe(err: Any) -> str:
    """One pydantic error → a sentence that says what was expected."""
    kind = err["type"]
    given = err.get("input")
    ctx = err.get("ctx") or {}
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{given!r} is not one of {expected}"
    if kind == "extra_forbidden":
        return "unknown key (not part of the schema; check the spelling)"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        return f"{given!r} is not a valid name (lower-case letters, digits and _, starting with a letter)"
    if kind in ("model_type", "dict_type"):
        return f"expected a mapping, got {type(given).__name__}"
    if kind == "list_type":
        return f"expected a list, got {type(given).__name__}"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def validation_issues(exc: ValidationError, doc: Document, base: PathKey) -> list[Issue]:
    """Translate a pydantic ValidationError on the object at ``base`` into located issues."""
    issues = []
    for err in exc.errors(include_url=False):
        loc: PathKey = (*base, *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))))
        # union/tagged branches add their type name to the loc; keep only real keys and indexes
        clean: list[str | int] = []
        data_node: Any = doc.data
        for part in loc:
            if (isinstance(data_node, dict) and part in data_node) or (
                isinstance(data_node, list) and isinstance(part, int) and part < len(data_node)
            ):
                clean.append(part)
                data_node = data_node[part]  # type: ignore[index]
            elif isinstance(part, str) and err["type"] in ("extra_forbidden", "missing") and part == loc[-1]:
                clean.append(part)
        issues.append(doc.issue(clean, _describe(err)))
    return issues


def parse_model(model: type[M], data: Any, doc: Document, base: PathKey = ()) -> tuple[M | None, list[Issue]]:
    """Validate ``data`` (found at ``base`` in ``doc``) as ``model``; never raises on bad input."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, validation_issues(exc, doc, base)


def load_model(model: type[M], path: Path, root: Path | None = None) -> M:
    """Load a whole file as one model, raising DefinitionError with every located issue."""
    doc = load_document(path, root)
    obj, issues = parse_model(model, doc.data if doc.data is not None else {}, doc)
    issues = doc.issues + issues
    if issues or obj is None:
        raise DefinitionError(issues)
    return obj
