"""JSON Schemas of the project files, generated from the pydantic models that read them.

Editors (VS Code's YAML extension, JetBrains) validate and complete a YAML file that starts with
``# yaml-language-server: $schema=<path>``; ``metricloop init`` writes those lines and a copy of
these schemas into the project's ``schemas/`` folder. The JSON files next to this module are
the shipped copies; ``tests/cli/test_schemas.py`` fails when they drift from the models
(regenerate with ``python -m metricloop.schemas``).

The schemas describe the files as written (``${ENV}`` placeholders are text); cross-file rules
(an unknown metric, a person no team knows) are checked by ``catalog validate`` / ``monitors
validate``, not by the schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from metricloop.errors import ConfigError

HERE = Path(__file__).parent
FOLDER = "schemas"  # in a project: schemas/<kind>.json


def _project() -> type[BaseModel]:
    from metricloop.project import ProjectConfig

    return ProjectConfig


def _models() -> type[BaseModel]:
    from metricloop.catalog.models import Metric, SemanticModel, TimeSpine

    return create_model(
        "ModelsFile",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One models/*.yaml file: semantic models, metrics and time spines (MetricFlow keys + governance).",
        semantic_models=(list[SemanticModel], Field(default_factory=list)),
        metrics=(list[Metric], Field(default_factory=list)),
        time_spines=(list[TimeSpine], Field(default_factory=list)),
        extensions=(dict[str, Any], Field(default_factory=dict,
                                          description="Imported objects kept verbatim for export.")),
    )


def _monitors() -> type[BaseModel]:
    from metricloop.detect.monitor import MonitorSpec

    many = create_model(
        "MonitorList",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Several monitors under 'monitors:'.",
        monitors=(list[MonitorSpec], Field(default_factory=list)),
    )
    return RootModel[many | MonitorSpec]


def _owners() -> type[BaseModel]:
    from metricloop.workflow.owners import OwnersFile

    return OwnersFile


def _channels() -> type[BaseModel]:
    from metricloop.notify.config import ChannelsFile

    return ChannelsFile


def _calendars() -> type[BaseModel]:
    from metricloop.detect.monitor import NoiseSpec

    return NoiseSpec


#: kind → (model factory, the files it describes, title)
KINDS: dict[str, tuple[Callable[[], type[BaseModel]], str, str]] = {
    "project": (_project, "metricloop.yaml", "MetricLoop project settings (metricloop.yaml)"),
    "models": (_models, "models/*.yaml", "MetricLoop semantic models and metrics (models/*.yaml)"),
    "monitors": (_monitors, "monitors/*.yaml", "MetricLoop monitors (monitors/*.yaml)"),
    "owners": (_owners, "owners.yaml", "MetricLoop responsibility table (owners.yaml)"),
    "channels": (_channels, "channels.yaml", "MetricLoop notification channels (channels.yaml)"),
    "calendars": (_calendars, "monitors/*.yaml noise:",
                  "MetricLoop noise control and calendars (a monitor's noise: holidays, calendars, yearly, mute)"),
}


def _secret_as_text(node: Any) -> Any:
    """pydantic renders ``SecretStr`` as ``format: password``; keep it (editors mask it) but drop
    ``writeOnly`` so editors still complete the field."""
    if isinstance(node, dict):
        return {k: _secret_as_text(v) for k, v in node.items() if k != "writeOnly"}
    if isinstance(node, list):
        return [_secret_as_text(v) for v in node]
    return node


#: ``$defs`` a YAML file may also write as a plain string (``label: GMV``, ``numerator: gmv``).
STRING_SHORTHANDS = ("I18nText", "MetricInput")


def _shorthands(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if len(node) == 1 and ref.rsplit("/", 1)[-1] in STRING_SHORTHANDS:
            return {"anyOf": [node, {"type": "string"}]}
        return {k: _shorthands(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_shorthands(v) for v in node]
    return node


ENV_REF = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$", "description": "${ENV_VAR}"}


def _env_numbers(node: Any) -> Any:
    """channels.yaml resolves ``${VAR}`` before validating: a number may be written as one."""
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            return {"anyOf": [node, ENV_REF], **({"default": node["default"]} if "default" in node else {})}
        return {k: _env_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_env_numbers(v) for v in node]
    return node


def generate(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one kind of project file."""
    if kind not in KINDS:
        raise ConfigError(f"unknown schema kind {kind!r}; expected one of {', '.join(KINDS)}",
                          zh=f"未知的 schema 类型 {kind!r}；可选：{', '.join(KINDS)}")
    factory, files, title = KINDS[kind]
    schema = factory().model_json_schema(by_alias=True, mode="validation")
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"metricloop/{kind}.json",
        "title": title,
        "x-metricloop-files": files,
    }
    out.update(_shorthands(_secret_as_text(schema)))
    out.setdefault("type", "object")
    if kind == "channels":
        out = _env_numbers(out)
    out["title"] = title
    return out


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def shipped(kind: str) -> Path:
    return HERE / f"{kind}.json"


def write_all(folder: Path = HERE) -> list[Path]:
    """Write every kind's schema into ``folder`` (the package's copies, or a project's ``schemas/``)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for kind in KINDS:
        path = folder / f"{kind}.json"
        path.write_text(dumps(generate(kind)), encoding="utf-8")
        out.append(path)
    return out


def modeline(kind: str, depth: int = 0) -> str:
    """The first line of a scaffolded file: its schema, relative to the file (``depth`` folders deep)."""
    return f"# yaml-language-server: $schema={'../' * depth}{FOLDER}/{kind}.json\n"
