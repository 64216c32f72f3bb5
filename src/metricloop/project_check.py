"""Check a whole project folder before anything runs: ``metricloop validate`` and the gate of
``run`` / ``serve``.

Every file is read the way the loop reads it (the same pydantic models and loaders), and then the
files are checked against each other: owners.yaml rules against the catalog's metrics and
dimensions, people / teams / channels against owners.yaml and channels.yaml, monitor owners
against owners.yaml. A problem found here is one the loop would otherwise meet in the middle of
a run, after anomalies were stored.

Two kinds of result:

* :class:`Problem` — something wrong in a file, located by file, line and field. ``error``s
  make a project invalid; ``warning``s are ``${ENV}`` references whose variable is not set in
  this environment (a CI job has no production secrets; ``run`` and ``serve`` still start, and
  the channel's messages stay queued until the variable is set).
* :class:`ProjectUnreadable` — the check itself could not run (no project there, a file that
  cannot be read): the CLI's exit code 2, not 1.

Secrets never appear in a problem: variables are named, their values are not; channel errors
carry no input values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from metricloop.errors import ConfigError, DefinitionError, Issue, Location, MetricLoopError
from metricloop.i18n import Text, normalize_locale
from metricloop.yamlio import Document, PathKey, load_document, parse_model

Severity = Literal["error", "warning"]
Area = Literal["settings", "models", "monitors", "owners", "channels"]
T = TypeVar("T")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_GLOB = re.compile(r"[*?\[]")
_BAD_TAG = re.compile(r"Input tag '(.*)' found using 'type' does not match any of the expected tags: (.*)$")
_FIELD_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")

MSG = {
    "env_unset": Text(
        en="environment variable {var} is not set (this value cannot be resolved here)",
        zh="环境变量 {var} 未设置（此处的值无法解析）",
    ),
    "rule_metric": Text(en="unknown metric {metric!r} (not in models/)", zh="未知指标 {metric!r}（models/ 中没有）"),
    "rule_glob": Text(en="pattern {metric!r} matches no metric", zh="模式 {metric!r} 不匹配任何指标"),
    "rule_dim": Text(
        en="{dim!r} is not a dimension of {what} (known: {known})",
        zh="{dim!r} 不是 {what} 的维度（可用：{known}）",
    ),
    "monitor_owner": Text(
        en="unknown person {owner!r} (not in owners.yaml people)", zh="未知人员 {owner!r}（owners.yaml people 中没有）"
    ),
    "no_project": Text(
        en="no metricloop.yaml in {path} (run 'metricloop init DIR' or pass --project DIR)",
        zh="{path} 中没有 metricloop.yaml（先运行 'metricloop init DIR' 或指定 --project DIR）",
    ),
    "unreadable": Text(en="cannot read {file}: {reason}", zh="无法读取 {file}：{reason}"),
}


@dataclass(frozen=True)
class Problem:
    """One finding, located; ``message_zh`` is set when the text has a Chinese version."""

    area: Area
    severity: Severity
    message: str
    location: Location
    message_zh: str | None = None

    def text(self, locale: str | None = None) -> str:
        """The message alone, in ``locale`` (English when it has no Chinese version)."""
        return self.message_zh if normalize_locale(locale) == "zh-CN" and self.message_zh else self.message

    def render(self, locale: str | None = None) -> str:
        """``owners.yaml:12 rules[3].owner: unknown person 'wang.fangg'`` in ``locale``."""
        where = str(self.location)
        return f"{where}: {self.text(locale)}" if where else self.text(locale)

    def to_dict(self, locale: str | None = None) -> dict[str, Any]:
        loc = {k: v for k, v in vars(self.location).items() if v is not None}
        return {"area": self.area, "severity": self.severity, **loc, "message": self.text(locale)}


@dataclass
class ProjectReport:
    """Everything :func:`check_project` found, and what it counted while reading."""

    root: Path
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def valid(self) -> bool:
        """No errors (warnings alone do not stop ``run`` / ``serve``)."""
        return not self.errors

    def summary(self, locale: str | None = None) -> str:
        e, w = len(self.errors), len(self.warnings)
        if normalize_locale(locale) == "zh-CN":
            return f"{e} 个错误，{w} 个警告" if self.problems else "项目有效"
        return f"{e} error(s), {w} warning(s)" if self.problems else "project valid"

    def to_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {
            "valid": not self.problems,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "counts": self.counts,
            "problems": [p.to_dict(locale) for p in self.problems],
        }


class ProjectUnreadable(ConfigError):
    """The check could not run at all (exit code 2): no project there, or a file that cannot be read."""

    code = "project_unreadable"


def resolve_root(root: str | Path | None) -> Path:
    """The project folder as :meth:`metricloop.project.Project.load` finds it."""
    return Path(root or os.environ.get("METRICLOOP_PROJECT") or ".").expanduser()


def project_locale(root: Path) -> str:
    """``METRICLOOP_LOCALE``, else the ``locale`` of metricloop.yaml, else zh-CN (never raises)."""
    env = os.environ.get("METRICLOOP_LOCALE")
    if env:
        return normalize_locale(env)
    try:
        import yaml

        data = yaml.safe_load((root / "metricloop.yaml").read_text(encoding="utf-8"))
        return normalize_locale(data.get("locale") if isinstance(data, Mapping) else None)
    except Exception:  # an unreadable or broken file: the check itself reports it
        return normalize_locale(None)


# ------------------------------------------------------------------------------------ reading
def _read(path: Path, root: Path, area: Area, problems: list[Problem]) -> Document | None:
    """Parse one YAML file; a syntax error is a problem, an unreadable file stops the check."""
    try:
        doc = load_document(path, root)
    except MetricLoopError as exc:
        problems.append(_from_error(area, exc, path, root))
        return None
    except OSError as exc:
        raise _unreadable(path, root, exc) from None
    problems.extend(_issue(area, i) for i in doc.issues)
    return doc


def _unreadable(path: Path, root: Path, exc: OSError) -> ProjectUnreadable:
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    reason = exc.strerror or type(exc).__name__
    return ProjectUnreadable(
        MSG["unreadable"].render("en", file=rel, reason=reason),
        zh=MSG["unreadable"].render("zh-CN", file=rel, reason=reason),
        location=Location(rel),
    )


def _guard(path: Path, root: Path, call: Callable[[], T]) -> T:
    """Run a loader; an OSError (permission denied, a folder where a file should be) stops the check."""
    try:
        return call()
    except OSError as exc:
        raise _unreadable(Path(exc.filename) if exc.filename else path, root, exc) from None


# Chinese for the messages the shared loaders (yamlio, owners, channels) write in English.
_ZH: list[tuple[re.Pattern[str], str]] = [(re.compile(p), z) for p, z in (
    (r"^unknown key \(not part of the schema; check the spelling\)$", "未知字段（不在定义中，请检查拼写）"),
    (r"^required field is missing$", "缺少必填字段"),
    (r"^duplicate key '(.*)'$", r"重复的字段 '\1'"),
    (r"^unknown person '(.*?)' \(or use team:<id> / from_catalog\)$",
     r"未知人员 '\1'（或使用 team:<id> / from_catalog）"),
    (r"^unknown person '(.*?)'(.*)$", r"未知人员 '\1'\2"),
    (r"^'(.*)' is not one of (.*) or a person id$", r"'\1' 不是 \2 之一，也不是人员 id"),
    (r"^unknown team '(.*)'$", r"未知团队 '\1'"),
    (r"^team '(.*)' has no lead$", r"团队 '\1' 没有负责人（lead）"),
    (r"^unknown channel '(.*)' \(not in channels.yaml\)$", r"未知渠道 '\1'（channels.yaml 中没有）"),
    (r"^'(.*)' is not one of (.*)$", r"'\1' 不是以下之一：\2"),
    (r"^unknown metric '(.*)'$", r"未知指标 '\1'"),
    (r"^metric '(.*?)' has no dimension '(.*?)' to explore \(available: (.*)\)$",
     r"指标 '\1' 没有维度 '\2'，无法用于 explore（可用：\3）"),
    (r"^metric '(.*?)' has no dimension '(.*?)' \(available: (.*)\)$", r"指标 '\1' 没有维度 '\2'（可用：\3）"),
    (r"^`explore` must name a dimension that `by` does not.*$",
     "`explore` 须包含 `by` 之外的维度（如 by: [city]，explore: [city, cuisine]）；这些切片已在监控中"),
    (r"^dimensions in `(by|explore)` must be distinct$", r"`\1` 中的维度不能重复"),
    (r"^invalid YAML: (.*)$", r"YAML 语法错误：\1"),
)]


def _zh(message: str) -> str | None:
    for pattern, template in _ZH:
        if pattern.match(message):
            return pattern.sub(template, message)
    return None


def translate(message: str, locale: str | None) -> str:
    """A loader's English problem text in ``locale`` (unchanged when no translation is known)."""
    return (_zh(message) or message) if normalize_locale(locale) == "zh-CN" else message


def _issue(area: Area, issue: Issue, severity: Severity = "error") -> Problem:
    return Problem(area, severity, issue.message, issue.location, _zh(issue.message))


def _from_error(area: Area, exc: MetricLoopError, path: Path, root: Path) -> Problem:
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    return Problem(area, "error", exc.message, exc.location or Location(rel), exc.message_zh)


def _issues(area: Area, exc: MetricLoopError, path: Path, root: Path) -> list[Problem]:
    if isinstance(exc, DefinitionError):
        return [_issue(area, i) for i in exc.issues]
    return [_from_error(area, exc, path, root)]


def _strings(value: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, (*path, str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*path, i))


def _unset_env(doc: Document, area: Area) -> tuple[list[Problem], set[PathKey]]:
    """A warning per ``${VAR}`` whose variable is unset, and the paths of the values holding one."""
    problems: list[Problem] = []
    paths: set[PathKey] = set()
    for path, text in _strings(doc.data):
        for var in _ENV_REF.findall(text):
            if var not in os.environ:
                paths.add(path)
                problems.append(Problem(area, "warning", MSG["env_unset"].render("en", var=var), doc.location(path),
                                        MSG["env_unset"].render("zh-CN", var=var)))
    return problems, paths


def _placeholder(value: Any, path: PathKey, unset: set[PathKey]) -> Any:
    """The data with each value that needs an unset variable replaced by a neutral stand-in."""
    if path in unset:
        return "unset"
    if isinstance(value, Mapping):
        return {k: _placeholder(v, (*path, str(k)), unset) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholder(v, (*path, i), unset) for i, v in enumerate(value)]
    return value


def _field_path(text: str | None) -> PathKey:
    """``channels[1].smtp.port`` → ``("channels", 1, "smtp", "port")``."""
    return tuple(int(i) if i else name for i, name in _FIELD_PART.findall(text or ""))


# ------------------------------------------------------------------------------------ the check
def check_project(root: str | Path | None = None, *, env: bool = True) -> ProjectReport:
    """Read and cross-check every file of the project at ``root``.

    ``env=False`` skips the ``${ENV}`` check (a CI job without the production secrets).
    Raises :class:`ProjectUnreadable` when the check cannot run; never raises for a bad file.
    """
    from metricloop.catalog.catalog import Catalog, load_catalog
    from metricloop.detect.monitors import load_monitor_files
    from metricloop.project import PROJECT_FILE, ProjectConfig

    base = resolve_root(root)
    if not (base / PROJECT_FILE).is_file():
        shown = str(base.resolve())
        raise ProjectUnreadable(MSG["no_project"].render("en", path=shown), zh=MSG["no_project"].render("zh-CN",
                                                                                                       path=shown))
    base = base.resolve()
    report = ProjectReport(base)
    problems = report.problems

    # metricloop.yaml: the settings, and the variables of its connection strings
    doc = _read(base / PROJECT_FILE, base, "settings", problems)
    if doc is not None:
        _, found = parse_model(ProjectConfig, doc.data if doc.data is not None else {}, doc)
        problems.extend(_issue("settings", i) for i in found)
        if env:
            problems.extend(_unset_env(doc, "settings")[0])

    # models/: the catalog
    catalog: Catalog | None = None
    try:
        catalog = _guard(base / "models", base, lambda: load_catalog(base))
    except ProjectUnreadable:
        raise
    except MetricLoopError as exc:
        problems.extend(_issues("models", exc, base / "models", base))
    if catalog is not None:
        report.counts.update(metrics=len(catalog.metrics), semantic_models=len(catalog.semantic_models))

    # monitors/: each checked against the catalog (when it loaded)
    monitors = []
    try:
        monitors = _guard(base / "monitors", base, lambda: load_monitor_files(base, catalog))
    except ProjectUnreadable:
        raise
    except MetricLoopError as exc:
        problems.extend(_issues("monitors", exc, base / "monitors", base))
    report.counts["monitors"] = len(monitors)

    channel_names = _check_channels(base, report, env=env)
    owners = _check_owners(base, report, catalog, channel_names)
    if owners is not None:
        for m in monitors:
            owner = m.spec.owner
            if owner and owner not in owners.people and not (owner.startswith("team:") and owner[5:] in owners.teams):
                file, _, line = (m.source or "").partition(":")
                problems.append(Problem("monitors", "error", MSG["monitor_owner"].render("en", owner=owner),
                                        Location(file or None, int(line) if line.isdigit() else None, "owner"),
                                        MSG["monitor_owner"].render("zh-CN", owner=owner)))
    return report


def _check_channels(base: Path, report: ProjectReport, *, env: bool) -> list[str] | None:
    """channels.yaml with lines; the names of its channels (None when it is unusable)."""
    from metricloop.notify.config import ChannelsFile, parse_channels

    path = base / "channels.yaml"
    if not path.exists():
        return []
    doc = _read(path, base, "channels", report.problems)
    if doc is None:
        return None
    warnings, unset = _unset_env(doc, "channels")
    if env:
        report.problems.extend(warnings)
    data = _placeholder(doc.data, (), unset)
    try:
        parsed: ChannelsFile = parse_channels(data, file=doc.file)
    except DefinitionError as exc:
        for i in exc.issues:
            where = _field_path(i.location.field)
            if any(where[: len(u)] == u for u in unset):
                continue  # a stand-in for an unset variable: already said above
            message = i.message
            tag = _BAD_TAG.match(message)
            if tag:  # the channel's type is not one of the known ones
                where = (*where, "type")
                message = f"{tag.group(1)!r} is not one of {tag.group(2).replace(chr(39), '')}"
            elif message == "Extra inputs are not permitted":
                message = "unknown key (not part of the schema; check the spelling)"
            report.problems.append(Problem("channels", "error", message, doc.location(where), _zh(message)))
        items = data.get("channels") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            return None
        report.counts["channels"] = len(items)
        return [str(c["name"]) for c in items if isinstance(c, Mapping) and "name" in c]
    except MetricLoopError as exc:
        report.problems.append(_from_error("channels", exc, path, base))
        return None
    report.counts["channels"] = len(parsed.channels)
    return [c.name for c in parsed.channels]


def _check_owners(base: Path, report: ProjectReport, catalog: Any, channel_names: list[str] | None) -> Any:
    """owners.yaml (people, teams, escalation, channels) and its rules against the catalog; the
    parsed file (cross-references unchecked) for the monitor owners, None when it does not parse."""
    from metricloop.workflow.owners import OwnersFile, load_owners

    path = base / "owners.yaml"
    if not path.exists():
        return None
    try:
        owners = _guard(path, base, lambda: load_owners(path, base, channel_names))
    except ProjectUnreadable:
        raise
    except MetricLoopError as exc:
        report.problems.extend(_issues("owners", exc, path, base))
        owners = None
    if owners is not None:
        report.counts.update(people=len(owners.people), teams=len(owners.teams), rules=len(owners.rules))
    # the rules (and monitor owners) are checked even when a person or a channel is misspelt
    try:
        doc = load_document(path, base)
    except MetricLoopError:
        return None  # a YAML syntax error: reported above
    parsed, _ = parse_model(OwnersFile, doc.data if doc.data is not None else {}, doc)
    if parsed is not None and catalog is not None:
        report.problems.extend(_rule_problems(parsed, catalog, doc))
    return parsed


def _rule_problems(owners: Any, catalog: Any, doc: Document) -> list[Problem]:
    """Rules must name metrics that exist and slice by dimensions those metrics have."""
    import fnmatch

    from metricloop.catalog.catalog import available_dimensions

    out: list[Problem] = []

    def add(path: PathKey, key: str, zh: Mapping[str, Any] | None = None, **params: Any) -> None:
        out.append(Problem("owners", "error", MSG[key].render("en", **params), doc.location(path),
                           MSG[key].render("zh-CN", **{**params, **(zh or {})})))

    dims_of: dict[str, set[str]] = {}
    for name, metric in catalog.metrics.items():
        try:
            dims_of[name] = {d for d in available_dimensions(catalog, metric) if "__" not in d}
        except MetricLoopError:
            dims_of[name] = set()
    for i, rule in enumerate(owners.rules):
        matched: list[str] = []
        if rule.metric is None:
            matched = list(catalog.metrics)
        else:
            pats = [rule.metric] if isinstance(rule.metric, str) else list(rule.metric)
            for j, pat in enumerate(pats):
                hits = [m for m in catalog.metrics if fnmatch.fnmatchcase(m, pat)]
                if not hits:
                    path: PathKey = ("rules", i, "metric", *(() if isinstance(rule.metric, str) else (j,)))
                    add(path, "rule_glob" if _GLOB.search(pat) else "rule_metric", metric=pat)
                matched += hits
        if not matched:
            continue
        known = set().union(*(dims_of[m] for m in matched))
        for dim in rule.slice:
            if dim not in known:
                pattern = rule.metric if isinstance(rule.metric, str) else ", ".join(rule.metric or [])
                what, what_zh = (("any metric", "任何指标") if rule.metric is None
                                 else (f"metric {pattern!r}", f"指标 {pattern!r}"))
                add(("rules", i, "slice", dim), "rule_dim", {"what": what_zh}, dim=dim, what=what,
                    known=", ".join(sorted(known)) or "-")
    return out
