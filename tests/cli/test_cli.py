"""The `metricloop` command as a user runs it: real process, real project, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def ml(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "METRICLOOP_LOCALE": "en"}
    proc = subprocess.run(
        [sys.executable, "-m", "metricloop", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"metricloop {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "shop"
    ml("init", str(root), "--demo", "--scale", "0.03")
    return root


def test_init_demo_then_query_prints_real_numbers(shop: Path) -> None:
    out = ml("query", "gmv", "--by", "region", "--grain", "month", "--project", str(shop), "--format", "json")
    payload = json.loads(out.stdout)
    rows = payload["rows"]
    assert {r["region"] for r in rows} == {"华东", "华北", "华南", "华中", "西南", "西北", "东北"}
    assert len({r["metric_time__month"] for r in rows}) == 24
    assert all(r["gmv"] > 0 for r in rows)
    assert payload["sql"].startswith("SELECT")
    table = ml("query", "gmv", "--by", "region", "--grain", "month", "--project", str(shop), "--limit", "3").stdout
    assert "2024-10" in table and "gmv" in table


def test_csv_output_and_sql_flag(shop: Path) -> None:
    out = ml(
        "query",
        "conversion_rate",
        "--by",
        "channel",
        "--project",
        str(shop),
        "--format",
        "csv",
        "--start",
        "2026-06-01",
        "--end",
        "2026-06-30",
        "--sql",
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "channel,conversion_rate"
    assert {line.split(",")[0] for line in lines[1:]} == {"app", "web", "mini_program", "store"}
    assert "SUM(t0.sessions)" in out.stderr


def test_catalog_list_show_and_tree(shop: Path) -> None:
    listing = json.loads(ml("catalog", "list", "--project", str(shop), "--format", "json").stdout)
    assert listing[0]["name"] == "gmv" and listing[0]["tier"] == "north_star"
    assert len(listing) >= 15
    found = json.loads(ml("catalog", "list", "--project", str(shop), "--search", "客单价", "--format", "json").stdout)
    assert [m["name"] for m in found] == ["aov"]
    shown = ml("catalog", "show", "aov", "--tree", "--project", str(shop)).stdout
    assert "ratio_numerator" in shown and "revisions" in shown


def test_broken_yaml_is_one_line_with_file_line_and_field(shop: Path) -> None:
    f = shop / "models" / "orders.yaml"
    original = f.read_text(encoding="utf-8")
    try:
        f.write_text(original.replace("agg: sum, expr: amount", "agg: summ, expr: amount"), encoding="utf-8")
        proc = ml("query", "gmv", "--project", str(shop), check=False)
        assert proc.returncode == 1
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("error: models/orders.yaml:")
        assert "semantic_models[0].measures[0].agg: 'summ' is not one of sum, count" in line
    finally:
        f.write_text(original, encoding="utf-8")


@pytest.mark.parametrize("attack", ["region = '华东'; drop table orders", "1=1", "region = '华东' or 1=1"])
def test_filter_injection_is_rejected(shop: Path, attack: str) -> None:
    proc = ml("query", "gmv", "--where", attack, "--project", str(shop), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr
    count = ml("query", "orders", "--project", str(shop), "--format", "json").stdout
    assert json.loads(count)["rows"][0]["orders"] > 0  # the table is still there


def test_ingest_reports_rejects_and_loads(shop: Path, tmp_path: Path) -> None:
    f = tmp_path / "targets.csv"
    f.write_text("month,region,target\n2026-01-01,华东,100\n2026-02-01,华东,oops\n", encoding="utf-8")
    out = json.loads(
        ml(
            "ingest",
            str(f),
            "--table",
            "targets",
            "--schema",
            "month:DATE,region:VARCHAR,target:DOUBLE",
            "--project",
            str(shop),
            "--format",
            "json",
        ).stdout
    )
    assert (out["status"], out["rows_loaded"], out["rows_rejected"]) == ("partial", 1, 1)
    assert out["rejects"][0]["line"] == 3 and out["rejects"][0]["column"] == "target"
    loads = json.loads(ml("loads", "--table", "targets", "--project", str(shop), "--format", "json").stdout)
    assert loads[0]["rows_rejected"] == 1


def test_missing_project_is_a_clear_error(tmp_path: Path) -> None:
    proc = ml("query", "gmv", "--project", str(tmp_path), check=False)
    assert proc.returncode == 1
    assert "no metricloop.yaml" in proc.stderr and "metricloop init" in proc.stderr


def test_query_loads_no_state_store_or_arrow_and_reuses_the_parsed_catalog(shop: Path) -> None:
    """A read-only `metricloop query` stays a fast door: no SQLAlchemy/Alembic (state store), no
    pyarrow/pandas, and the second call reads the catalog from its content-hash cache."""
    argv = ["metricloop", "query", "gmv", "--by", "region", "--grain", "month", "-p", str(shop), "-f", "json"]
    code = (
        "import sys\nfrom metricloop.cli.main import main\n"
        f"sys.argv = {argv!r}\nmain()\n"
        "heavy = ('sqlalchemy', 'alembic', 'pyarrow', 'pandas', 'numpy', 'fastapi', 'nicegui', 'scipy')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules], file=sys.stderr)\n"
    )
    env = {**os.environ, "METRICLOOP_LOCALE": "en"}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "LOADED []" in first.stderr
    assert list((shop / ".metricloop" / "cache").glob("catalog-*.pickle"))
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    rows = json.loads(second.stdout)["rows"]
    assert {r["region"] for r in rows} == {"华东", "华北", "华南", "华中", "西南", "西北", "东北"}
    assert len(rows) == len(json.loads(first.stdout)["rows"])
