"""MkDocs hook: the reference pages are generated from the code on every build, never hand-kept.

* ``<lang>/reference/<kind>.md`` — one page per project file, from the JSON Schemas the pydantic
  models produce (``metricloop.schemas``), so a new field is documented the day it exists;
* ``<lang>/reference/detectors.md`` — every registered detector and its parameters;
* ``<lang>/reference/cli.md`` — every command and option, from the Typer app;
* ``<lang>/reference/api.md`` and ``openapi.json`` — the HTTP API, from the FastAPI app.

Field descriptions come from the code and are in English; headings and notes follow the page's
language.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

LANGS = ("en", "zh")
T = {
    "field": {"en": "Field", "zh": "字段"},
    "type": {"en": "Type", "zh": "类型"},
    "default": {"en": "Default", "zh": "默认值"},
    "description": {"en": "Description", "zh": "说明"},
    "generated": {
        "en": "Generated from the code on every documentation build (`{src}`). The same schema: "
        "`metricloop schema {kind}`; every file `metricloop init` writes starts with "
        "`# yaml-language-server: $schema=…`, so VS Code (YAML extension) and JetBrains IDEs validate and "
        "complete it.",
        "zh": "本页在每次构建文档时由代码生成（`{src}`）。同一份 JSON Schema 可用 `metricloop schema {kind}` 打印；"
        "`metricloop init` 写出的每个文件第一行都是 `# yaml-language-server: $schema=…`，VS Code（YAML 插件）"
        "和 JetBrains IDE 会据此校验并补全。字段说明来自代码，为英文。",
    },
    "files": {"en": "Files", "zh": "文件"},
    "types": {"en": "Types used above", "zh": "上文用到的类型"},
    "cli": {"en": "Command line reference", "zh": "命令行参考"},
    "cli_note": {
        "en": "Generated from the Typer app on every build. Every command takes `--project DIR` "
        "(default `$METRICLOOP_PROJECT` or the current folder); listings take `--format json`.",
        "zh": "每次构建时由 Typer 应用生成。所有命令都接受 `--project DIR`（默认 `$METRICLOOP_PROJECT` "
        "或当前目录）；列表类命令接受 `--format json`。说明文字来自代码，为英文。",
    },
    "api": {"en": "HTTP API reference", "zh": "HTTP API 参考"},
    "api_note": {
        "en": "Generated from the FastAPI app on every build. The full OpenAPI document: "
        "[openapi.json](../../openapi.json); a running server also serves it at `/openapi.json` and "
        "interactive docs at `/docs`.",
        "zh": "每次构建时由 FastAPI 应用生成。完整的 OpenAPI 文档：[openapi.json](../../openapi.json)；"
        "运行中的服务也在 `/openapi.json` 提供，交互式文档在 `/docs`。",
    },
    "detectors": {"en": "Detector reference", "zh": "检测器参考"},
    "det_note": {
        "en": "Every registered detector (built-ins and installed plugins) and the `params` it accepts "
        "in a monitor's `detectors:` list. Generated on every build.",
        "zh": "所有已注册的检测器（内置与已安装插件）及其在监控 `detectors:` 中接受的 `params`。每次构建时生成。",
    },
    "option": {"en": "Option", "zh": "选项"},
    "method": {"en": "Method", "zh": "方法"},
    "path": {"en": "Path", "zh": "路径"},
    "summary": {"en": "Summary", "zh": "摘要"},
}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _type(node: dict[str, Any]) -> str:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in node:
        return " or ".join(_type(n) for n in node["anyOf"])
    if "oneOf" in node:
        return " or ".join(_type(n) for n in node["oneOf"])
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    t = node.get("type")
    if t == "array":
        return f"list of {_type(node.get('items', {}))}"
    if t == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_type(node['additionalProperties'])}"
    if t == "null":
        return "null"
    if t == "string" and "pattern" in node and node["pattern"].startswith("^\\$"):
        return "`${ENV}`"
    return str(t or "any")


def _props_table(node: dict[str, Any], lang: str) -> list[str]:
    props = node.get("properties", {})
    if not props:
        return []
    required = set(node.get("required", []))
    out = [f"| {T['field'][lang]} | {T['type'][lang]} | {T['default'][lang]} | {T['description'][lang]} |",
           "|---|---|---|---|"]
    for name, p in props.items():
        default = json.dumps(p["default"], ensure_ascii=False) if "default" in p else ("**required**" if name in
                                                                                         required else "")
        out.append(f"| `{name}` | {_cell(_type(p))} | {_cell(default)} | {_cell(p.get('description', ''))} |")
    return out


def schema_page(kind: str, lang: str) -> str:
    from metricloop import schemas

    schema = schemas.generate(kind)
    lines = [f"# {schema['title']}", "", T["generated"][lang].format(src=f"metricloop/schemas/{kind}.json",
                                                                         kind=kind), "",
             f"**{T['files'][lang]}:** `{schema.get('x-metricloop-files', '')}`", ""]
    if schema.get("description"):
        lines += [schema["description"], ""]
    if "anyOf" in schema:
        lines += ["One of: " + ", ".join(_type(n) for n in schema["anyOf"]), ""]
    lines += _props_table(schema, lang)
    defs = schema.get("$defs", {})
    if defs:
        lines += ["", f"## {T['types'][lang]}", ""]
        for name, node in sorted(defs.items()):
            lines += [f"### {name}", ""]
            if node.get("description"):
                lines += [_cell(node["description"]), ""]
            if "enum" in node:
                lines += [_type(node), ""]
            if "oneOf" in node or "anyOf" in node:
                lines += ["One of: " + _type(node), ""]
            lines += [*_props_table(node, lang), ""]
    return "\n".join(lines) + "\n"


def detectors_page(lang: str) -> str:
    from metricloop.detect import registry

    lines = [f"# {T['detectors'][lang]}", "", T["det_note"][lang], ""]
    for name, cls in registry.available().items():
        title = cls.title.zh if lang == "zh" else cls.title.en
        lines += [f"## `{name}` — {title}", ""]
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        if doc:
            lines += [" ".join(doc.split()), ""]
        lines += [*_props_table(cls.Params.model_json_schema(), lang), ""]
    return "\n".join(lines) + "\n"


def _commands(group: Any, prefix: list[str]) -> Iterator[tuple[list[str], Any]]:
    for name in sorted(group.commands):
        cmd = group.commands[name]
        if getattr(cmd, "hidden", False):
            continue
        if hasattr(cmd, "commands"):  # a group (typer ships its own click: duck-type it)
            yield from _commands(cmd, [*prefix, name])
        else:
            yield [*prefix, name], cmd


def cli_page(lang: str) -> str:
    import typer

    from metricloop.cli.main import app, load_commands

    load_commands()
    root = typer.main.get_command(app)
    lines = [f"# {T['cli'][lang]}", "", T["cli_note"][lang], ""]
    for path, cmd in _commands(root, ["metricloop"]):
        args = " ".join(str(p.name).upper() for p in cmd.params if p.param_type_name == "argument")
        lines += [f"## {' '.join(path)}", "", f"    {' '.join(path)} {args} [OPTIONS]".rstrip(), ""]
        if cmd.help:
            lines += [" ".join(cmd.help.split("\n\n")[0].split()), ""]
        rows = []
        for p in cmd.params:
            if p.param_type_name == "argument" or p.name == "help":
                continue
            opts = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
            default = "" if p.default in (None, False) or callable(p.default) else f"`{p.default}`"
            rows.append(f"| {opts} | {_cell(default)} | {_cell(getattr(p, 'help', '') or '')} |")
        if rows:
            lines += [f"| {T['option'][lang]} | {T['default'][lang]} | {T['description'][lang]} |", "|---|---|---|",
                      *rows, ""]
    return "\n".join(lines) + "\n"


_OPENAPI: dict[str, Any] = {}


def openapi() -> dict[str, Any]:
    """The OpenAPI document of an API served for a fresh starter project."""
    if not _OPENAPI:
        from metricloop.api import create_app
        from metricloop.scaffold import init_empty
        from metricloop.service import MetricLoop

        with tempfile.TemporaryDirectory() as tmp:
            init_empty(Path(tmp) / "p")
            ml = MetricLoop.open(Path(tmp) / "p")
            try:
                _OPENAPI.update(create_app(ml, ui=False).openapi())
            finally:
                ml.close()
    return _OPENAPI


def api_page(lang: str) -> str:
    doc = openapi()
    lines = [f"# {T['api'][lang]}", "", T["api_note"][lang], ""]
    by_tag: dict[str, list[str]] = {}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(f"| `{method.upper()}` | `{path}` | {_cell(op.get('summary', ''))} |")
    for tag in sorted(by_tag):
        lines += [f"## {tag}", "", f"| {T['method'][lang]} | {T['path'][lang]} | {T['summary'][lang]} |",
                  "|---|---|---|", *by_tag[tag], ""]
    return "\n".join(lines) + "\n"


def generated_pages() -> dict[str, str]:
    """Every generated page by its path under docs/ (what the build adds; the test checks it)."""
    from metricloop import schemas

    pages: dict[str, str] = {}
    for lang in LANGS:
        for kind in schemas.KINDS:
            pages[f"{lang}/reference/{kind}.md"] = schema_page(kind, lang)
        pages[f"{lang}/reference/detectors.md"] = detectors_page(lang)
        pages[f"{lang}/reference/cli.md"] = cli_page(lang)
        pages[f"{lang}/reference/api.md"] = api_page(lang)
    pages["openapi.json"] = json.dumps(openapi(), indent=2, ensure_ascii=False) + "\n"
    return pages


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path, content in generated_pages().items():
        files.append(File.generated(config, path, content=content))
    return files
