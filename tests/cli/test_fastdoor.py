"""The fast doors answer `metricloop query` and `metricloop --help` exactly as the full command
does, without loading Typer, pydantic or the compiler, and never from stale files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metricloop.cli.fastdoor import parse_query_args

HEAVY = ("typer", "pydantic", "sqlglot", "sqlalchemy", "pyarrow", "metricloop.engine.compiler")
RUN = (
    "import sys\nfrom metricloop.cli.entry import main\n"
    "sys.argv = ['metricloop', *sys.argv[1:]]\n"
    "try:\n    main()\nfinally:\n"
    f"    print('LOADED', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n"
)


def ml(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`metricloop ARGS` in a new process through the real entry point; stderr ends with what it loaded."""
    full_env = {**os.environ, "COLUMNS": "120", "METRICLOOP_LOCALE": "en", **(env or {})}
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, env=full_env,
                          timeout=300, check=False)


def loaded(proc: subprocess.CompletedProcess[str]) -> list[str]:
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED ")][-1]
    return list(json.loads(line[len("LOADED "):].replace("'", '"')))


def output(proc: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    err = [ln for ln in proc.stderr.splitlines() if not ln.startswith("LOADED ")]
    return proc.returncode, proc.stdout, "\n".join(err)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fastdoor") / "shop"
    done = subprocess.run([sys.executable, "-m", "metricloop", "init", str(root), "--demo", "--scale", "0.03"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.parametrize("args", [
    ("gmv", "--by", "region", "--grain", "month"),
    ("gmv,orders", "--grain", "week", "--start", "2026-06-01", "--end", "2026-06-30", "-f", "json"),
    ("conversion_rate", "--by", "channel", "--format=csv", "--sql"),
    ("gmv", "--grain", "day", "--compare", "last_week", "--start", "2026-06-10", "--end", "2026-06-12"),
    ("gmv", "--grain", "month", "--order", "-gmv", "--limit", "2", "--dry-run"),
], ids=["table", "json", "csv-sql", "compare", "dry-run"])
def test_a_repeated_query_prints_the_same_without_loading_the_cli(shop: Path, args: tuple[str, ...]) -> None:
    first = ml("query", *args, "-p", str(shop))
    assert first.returncode == 0, first.stderr
    again = ml("query", *args, "-p", str(shop))
    assert output(again) == output(first)
    assert "typer" in loaded(first) and loaded(again) == []


def test_an_edited_model_is_compiled_again(shop: Path) -> None:
    args = ("query", "orders", "--grain", "month", "-p", str(shop), "-f", "json")
    before = json.loads(ml(*args).stdout)
    assert loaded(ml(*args)) == []
    models = shop / "models"
    original = {f: f.read_text(encoding="utf-8") for f in models.glob("*.yaml")}
    try:
        extra = models / "zz_extra.yaml"  # any change of the model files compiles the query again
        extra.write_text("metrics:\n  - {name: app_orders_fd, measure: order_count, filter: \"channel = 'app'\"}\n",
                         encoding="utf-8")
        after = ml(*args)
        assert "typer" in loaded(after) and json.loads(after.stdout) == before
        app = json.loads(ml("query", "app_orders_fd", "--grain", "month", "-p", str(shop), "-f", "json").stdout)
        assert sum(r["app_orders_fd"] for r in app["rows"]) < sum(r["orders"] for r in before["rows"])
    finally:
        (models / "zz_extra.yaml").unlink(missing_ok=True)
        for f, text in original.items():
            f.write_text(text, encoding="utf-8")


def test_errors_and_unusual_arguments_reach_the_full_command(shop: Path) -> None:
    unknown = ml("query", "gmvv", "-p", str(shop))
    assert unknown.returncode == 1 and "gmvv" in unknown.stderr and "typer" in loaded(unknown)
    assert ml("query", "gmvv", "-p", str(shop)).returncode == 1  # never cached
    usage = ml("query", "gmv", "--grain", "fortnight", "-p", str(shop))
    assert usage.returncode == 2 and "fortnight" in usage.stderr
    helped = ml("query", "--help")
    assert helped.returncode == 0 and "--compare" in helped.stdout


def test_the_parser_takes_only_what_click_would_parse_the_same_way() -> None:
    assert parse_query_args(["gmv", "--by", "region", "-pdemo", "--limit", "5", "--sql"]) == {
        "metrics": "gmv", "by": "region", "project": "demo", "limit": 5, "sql": True}
    assert parse_query_args(["--order", "-gmv", "gmv"]) == {"metrics": "gmv", "order": "-gmv"}
    assert parse_query_args(["--", "-odd"]) == {"metrics": "-odd"}
    for args in (["gmv", "--by", "a", "--by", "b"], ["gmv", "--help"], ["gmv", "orders"], [], ["gmv", "--limit"],
                 ["gmv", "--limit", "x"], ["gmv", "-f", "yaml"], ["gmv", "--sql=yes"], ["gmv", "--unknown", "1"]):
        assert parse_query_args(args) is None, args


@pytest.mark.parametrize("columns", ["120", "60"])
def test_help_is_printed_from_its_cache_exactly(tmp_path: Path, columns: str) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path), "COLUMNS": columns}
    first, again = ml("--help", env=env), ml("--help", env=env)
    assert first.returncode == 0 and "query" in first.stdout
    assert output(again) == output(first)
    assert "typer" in loaded(first) and loaded(again) == []
    full = subprocess.run([sys.executable, "-c", "import sys\nfrom metricloop.cli.main import main\n"
                           "sys.argv = ['metricloop', '--help']\nmain()\n"],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=300, check=False)
    assert again.stdout == full.stdout
