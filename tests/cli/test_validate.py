"""Validation that can gate: exit codes a CI job or a deploy script relies on, the whole project
checked (settings, models, monitors, owners.yaml, channels.yaml), and `run` refusing an invalid one.

Exit codes: 0 = valid, 1 = problems found, 2 = could not run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from metricloop.project_check import check_project
from metricloop.scaffold import DEMO_TEMPLATE
from tests.cli.conftest import SECRET, Result
from tests.conftest import write_tiny_project

MONITOR = textwrap.dedent("""\
    name: gmv_by_region
    metric: gmv
    by: [region]
    grain: day
    detectors:
      - type: seasonal
""")
OWNERS = textwrap.dedent("""\
    people:
      wang.fang: {name: 王芳, team: trade}
      li.na: {name: 李娜, team: trade}
    teams:
      trade: {name: {en: Trade}, lead: wang.fang, manager: li.na, channels: [ops]}
    rules:
      - {slice: {region: 华东}, owner: wang.fang}
      - {metric: gmv, owner: li.na}
      - {metric: "*", owner: from_catalog}
    escalation:
      - {after: 30 minutes, to: owner}
      - {after: 2 hours, to: manager}
    channels: [ops]
""")
CHANNELS = textwrap.dedent("""\
    channels:
      - name: ops
        type: wecom
        url: https://qyapi.example/send?key=${ML_TEST_VALIDATE_KEY}
""")


def ml(*args: str) -> subprocess.CompletedProcess[str]:
    """A real ``metricloop`` process: the exit code a shell sees."""
    env = {**os.environ, "COLUMNS": "250", "METRICLOOP_LOCALE": "en", "ML_TEST_VALIDATE_KEY": SECRET}
    return subprocess.run([sys.executable, "-m", "metricloop", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_tiny_project(tmp_path / "shop")
    (root / "monitors").mkdir()
    (root / "monitors" / "gmv.yaml").write_text(MONITOR, encoding="utf-8")
    (root / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    (root / "channels.yaml").write_text(CHANNELS, encoding="utf-8")
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_catalog_and_monitors_validate_exit_codes(project: Path, tmp_path: Path, cli: Callable[..., Result]) -> None:
    assert cli("monitors", "validate", "-p", str(project)).returncode == 0

    edit(project / "monitors" / "gmv.yaml", "by: [region]", "by: [regoin]")
    proc = cli("monitors", "validate", "-p", str(project), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    problems = json.loads(proc.stdout)["problems"]
    assert [(p["file"], p["line"], p["field"]) for p in problems] == [("monitors/gmv.yaml", 3, "by[0]")]

    edit(project / "models" / "shop.yaml", "agg: sum, expr: amount", "agg: summ, expr: amount")
    proc = ml("catalog", "validate", "-p", str(project))  # a real process: the code the shell sees
    assert proc.returncode == 1
    assert "models/shop.yaml:13 semantic_models[0].measures[0].agg: 'summ' is not one of" in proc.stderr
    assert "1 problem(s)" in proc.stderr
    zh = cli("catalog", "validate", "-p", str(project), env={"METRICLOOP_LOCALE": "zh-CN"})
    assert zh.returncode == 1 and "'summ' 不是以下之一：sum, count" in zh.stderr and "1 个问题" in zh.stderr

    for cmd in (["catalog", "validate"], ["monitors", "validate"], ["validate"]):  # nothing to check: 2, not 1
        res = cli(*cmd, "-p", str(tmp_path / "missing"))
        assert res.returncode == 2, (cmd, res.stderr)
        assert "no metricloop.yaml" in res.stderr


def test_project_validate_finds_every_cross_file_problem(project: Path, cli: Callable[..., Result]) -> None:
    proc = cli("validate", "-p", str(project))
    assert proc.returncode == 0, proc.stderr
    assert "project valid" in proc.stdout

    edit(project / "metricloop.yaml", "timezone:", "timezon:")
    edit(project / "owners.yaml", "{region: 华东}, owner: wang.fang", "{regoin: 华东}, owner: wang.fangg")
    edit(project / "owners.yaml", "{metric: gmv, owner", "{metric: gmvv, owner")
    edit(project / "owners.yaml", "to: manager", "to: li.nna")
    edit(project / "owners.yaml", "channels: [ops]\n", "channels: [opps]\n")
    edit(project / "channels.yaml", "type: wecom", "type: wechat")
    edit(project / "monitors" / "gmv.yaml", "grain: day", "grain: day\nowner: li.na.x")
    edit(project / "channels.yaml", "key=${ML_TEST_VALIDATE_KEY}", "key=${ML_TEST_VALIDATE_KEY}&t=${ML_TEST_NOT_SET}")
    proc = cli("validate", "-p", str(project), "--format", "json")
    assert proc.returncode == 1
    found = {(p["severity"], p["file"], p["line"], p["field"]) for p in json.loads(proc.stdout)["problems"]}
    assert found == {
        ("error", "metricloop.yaml", 2, "timezon"),
        ("error", "owners.yaml", 7, "rules[0].owner"),
        ("error", "owners.yaml", 7, "rules[0].slice.regoin"),
        ("error", "owners.yaml", 8, "rules[1].metric"),
        ("error", "owners.yaml", 12, "escalation[1].to"),
        ("error", "owners.yaml", 13, "channels[0]"),
        ("error", "channels.yaml", 3, "channels[0].type"),
        ("warning", "channels.yaml", 4, "channels[0].url"),
        ("error", "monitors/gmv.yaml", 1, "owner"),
    }
    assert SECRET not in proc.stdout + proc.stderr

    table = cli("validate", "-p", str(project), env={"METRICLOOP_LOCALE": "zh-CN"})
    assert table.returncode == 1
    assert "owners.yaml:8 rules[1].metric: 未知指标 'gmvv'" in table.stderr
    assert "owners.yaml:7 rules[0].owner: 未知人员 'wang.fangg'" in table.stderr  # the loaders' texts too
    assert "metricloop.yaml:2 timezon: 未知字段" in table.stderr
    assert "channels.yaml:4 channels[0].url: 环境变量 ML_TEST_NOT_SET 未设置" in table.stderr
    assert "8 个错误，1 个警告" in table.stderr
    assert SECRET not in table.stdout + table.stderr


def test_unset_variables_fail_validate_but_not_no_env(project: Path, cli: Callable[..., Result]) -> None:
    assert cli("validate", "-p", str(project), env={"ML_TEST_VALIDATE_KEY": ""}).returncode == 0  # set, if empty
    proc = cli("validate", "-p", str(project), env={"ML_TEST_VALIDATE_KEY": None})
    assert proc.returncode == 1
    assert "channels.yaml:4 channels[0].url: environment variable ML_TEST_VALIDATE_KEY is not set" in proc.stderr
    assert cli("validate", "--no-env", "-p", str(project), env={"ML_TEST_VALIDATE_KEY": None}).returncode == 0


def test_unreadable_file_means_could_not_run(project: Path, cli: Callable[..., Result]) -> None:
    (project / "owners.yaml").unlink()
    (project / "owners.yaml").mkdir()  # root reads any file: a folder is what cannot be read here
    proc = cli("validate", "-p", str(project))
    assert proc.returncode == 2
    assert "cannot read owners.yaml" in proc.stderr


def test_run_refuses_an_invalid_project_before_storing_anything(project: Path, cli: Callable[..., Result]) -> None:
    edit(project / "owners.yaml", "owner: li.na}", "owner: li.nna}")
    proc = ml("run", "-p", str(project), "--at", "2026-02-15T00:00", "--no-notify")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("✗ owners.yaml:8 rules[1].owner: unknown person 'li.nna'")
    assert "not starting" in lines[-1]
    assert not (project / ".metricloop" / "state.db").exists()  # nothing detected, nothing stored
    proc = cli("serve", "-p", str(project), "--port", "9")
    assert proc.returncode == 1 and "not starting" in proc.stderr


def test_the_shipped_projects_validate_clean(tmp_path: Path) -> None:
    report = check_project(DEMO_TEMPLATE, env=False)
    assert report.problems == [], [p.render("en") for p in report.problems]
    assert report.counts["monitors"] > 0 and report.counts["people"] > 0
    # with its variables unset the demo still starts (warnings, not errors): `serve` without receivers
    root = tmp_path / "demo"
    shutil.copytree(DEMO_TEMPLATE, root)
    unset = check_project(root)
    assert unset.valid and unset.warnings
    assert all("ML_" in p.message for p in unset.warnings)
