"""``bench cli``: the fixed cost of one ``metricloop`` call, timed as ratios in one run.

A user who types ``metricloop query`` pays process start, imports and catalog parsing before
the warehouse sees any SQL. The fair baseline is a python script that opens the same DuckDB
file and runs the same compiled SQL: the difference is MetricLoop's own overhead. Runs are
interleaved (one of each per round) so a busy machine slows both sides alike; best-of-N wall
times are compared, and the CPU time (user + system) of each process is shown too: on a shared
machine it moves less with the load than the wall time.

The repeated calls are answered by the fast doors (``cli/fastdoor.py``: the query compiled
before, the help printed before); the "cold" rows clear those caches before each run, so they
show what a first call (a new query, an edited model, a new terminal size) costs.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SCRIPT = """\
import sys

import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
for row in con.execute(open(sys.argv[2], encoding="utf-8").read()).fetchall():
    print(*row, sep="\\t")
"""


def _wall(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(project: Path, *, metric: str = "gmv", by: str = "region", grain: str = "month",
        repeats: int = 7) -> dict[str, Any]:
    """Time ``metricloop query``, ``metricloop --help`` and a python+duckdb script (best of ``repeats``)."""
    from metricloop.engine.query import MetricQuery
    from metricloop.engine.warehouse import DuckDBWarehouse
    from metricloop.service import MetricLoop

    ml = MetricLoop.open(project)
    try:
        wh = ml.warehouse()
        if not isinstance(wh, DuckDBWarehouse):
            raise RuntimeError("bench cli needs a project on the embedded DuckDB warehouse")
        sql = ml.compile(MetricQuery(metrics=[metric], group_by=[by], grain=grain)).sql
        db_path = wh.path
    finally:
        ml.close()
    cli = [sys.executable, "-m", "metricloop"]
    query = [*cli, "query", metric, "--by", by, "--grain", grain, "-p", str(project)]
    with tempfile.TemporaryDirectory(prefix="ml-bench-cli-") as tmp:
        script, sql_file = Path(tmp, "baseline.py"), Path(tmp, "query.sql")
        script.write_text(_SCRIPT, encoding="utf-8")
        sql_file.write_text(sql, encoding="utf-8")
        help_cache = Path(tmp, "cache")  # XDG_CACHE_HOME of the help runs: this run's own
        warm_env = {**os.environ, "XDG_CACHE_HOME": str(help_cache)}
        cold_env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp, "cold-cache"))}

        def forget_queries() -> None:
            for f in (project / ".metricloop" / "cache").glob("query-*.json"):
                f.unlink()

        def forget_help() -> None:
            shutil.rmtree(Path(tmp, "cold-cache"), ignore_errors=True)

        # name -> (command, environment, what to clear before each run)
        commands: dict[str, tuple[list[str], dict[str, str] | None, Callable[[], None] | None]] = {
            "python": ([sys.executable, "-c", "pass"], None, None),
            "python+duckdb script": ([sys.executable, str(script), db_path, str(sql_file)], None, None),
            "metricloop query": (query, None, None),
            "metricloop query (cold)": (query, None, forget_queries),
            "metricloop --help": ([*cli, "--help"], warm_env, None),
            "metricloop --help (cold)": ([*cli, "--help"], cold_env, forget_help),
        }
        for cmd, env, _ in commands.values():  # warm the OS file cache and the fast doors' caches once
            _wall(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, (cmd, env, clear) in commands.items():
                if clear is not None:
                    clear()
                wall, used = _wall(cmd, env)
                times[name].append(wall)
                cpu[name].append(used)
        _wall(query)  # leave the project's query cache as a user would have it
    best = {name: min(values) for name, values in times.items()}
    best_cpu = {name: min(values) for name, values in cpu.items()}
    base = best["python+duckdb script"]
    rows = [
        {
            "command": name,
            "best_s": round(best[name], 3),
            "median_s": round(sorted(times[name])[len(times[name]) // 2], 3),
            "ratio_to_script": round(best[name] / base, 2),
            "cpu_s": round(best_cpu[name], 3),
            "cpu_ratio": round(best_cpu[name] / best_cpu["python+duckdb script"], 2),
        }
        for name in commands
    ]
    return {
        "project": str(project),
        "sql": sql,
        "repeats": repeats,
        "commands": rows,
        "query_ratio": round(best["metricloop query"] / base, 2),
        "query_cpu_ratio": round(best_cpu["metricloop query"] / best_cpu["python+duckdb script"], 2),
        "cold_query_ratio": round(best["metricloop query (cold)"] / base, 2),
        "help_s": round(best["metricloop --help"], 3),
        "help_ratio_to_python": round(best["metricloop --help"] / best["python"], 2),
        "cold_help_s": round(best["metricloop --help (cold)"], 3),
        "goals": {"query_ratio": 1.5, "help_s": 0.3},
    }
