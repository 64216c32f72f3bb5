"""JSON Schemas of the project files: shipped copies up to date, the demo and the starter valid,
the editors' modeline on every scaffolded file, and a typo caught the way an editor would."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from metricloop import schemas
from metricloop.scaffold import DEMO_TEMPLATE, init_empty


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(schemas.shipped(kind).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(kind: str, path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [f"{path.name} {'/'.join(map(str, e.path))}: {e.message[:200]}" for e in _validator(kind).iter_errors(data)]


def _files(root: Path) -> list[tuple[str, Path]]:
    out = [("project", root / "metricloop.yaml"), ("owners", root / "owners.yaml"),
           ("channels", root / "channels.yaml")]
    out += [("models", p) for p in sorted((root / "models").glob("*.yaml"))]
    out += [("monitors", p) for p in sorted((root / "monitors").glob("*.yaml"))]
    return out


@pytest.mark.parametrize("kind", list(schemas.KINDS))
def test_shipped_schema_is_up_to_date(kind: str) -> None:
    shipped = schemas.shipped(kind).read_text(encoding="utf-8")
    assert shipped == schemas.dumps(schemas.generate(kind)), (
        f"src/metricloop/schemas/{kind}.json is stale: run python -m metricloop.schemas"
    )


def test_demo_project_files_validate() -> None:
    problems = [e for kind, path in _files(DEMO_TEMPLATE) for e in _errors(kind, path)]
    noise = _validator("calendars")
    for _, path in _files(DEMO_TEMPLATE):
        if path.parent.name == "monitors":
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            for m in data.get("monitors", [data]):
                problems += [f"{m['name']} noise: {e.message}" for e in noise.iter_errors(m.get("noise", {}))]
    assert problems == []


def test_starter_files_validate_and_point_at_their_schema(tmp_path: Path) -> None:
    init_empty(tmp_path / "p")
    root = tmp_path / "p"
    for kind, path in _files(root):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        depth = "../" if path.parent != root else ""
        assert first == f"# yaml-language-server: $schema={depth}schemas/{kind}.json", path
        assert (path.parent / first.split("=", 1)[1]).resolve().exists()
        assert _errors(kind, path) == []


def test_a_typo_is_an_error_an_editor_shows() -> None:
    bad = {"monitors": [{"name": "gmv", "metric": "gmv", "grian": "hour"}]}
    assert list(_validator("monitors").iter_errors(bad))
    assert list(_validator("monitors").iter_errors({"name": "gmv", "metric": "gmv", "grain": "fortnight"}))
    assert list(_validator("monitors").iter_errors({"name": "gmv", "metric": "gmv", "grain": "hour"})) == []
    model = {"metrics": [{"name": "gmv", "measure": "amount", "tier": "north_star", "label": "GMV"}]}
    assert list(_validator("models").iter_errors(model)) == []
    assert list(_validator("models").iter_errors({"metrics": [{"name": "gmv", "tier": "top"}]}))
    bad_channel = {"channels": [{"name": "x", "type": "dingtalk", "url": "${ML_URL}", "style": "loud"}]}
    assert list(_validator("channels").iter_errors(bad_channel))
    ok_channel = {"channels": [{"name": "m", "type": "email", "sender": "a@b.c", "to": ["o@b.c"],
                                "smtp": {"host": "${H}", "port": "${P}"}}]}
    assert list(_validator("channels").iter_errors(ok_channel)) == []
