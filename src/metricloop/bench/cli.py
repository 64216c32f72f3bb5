"""``bench cli``: the fixed cost of one ``metricloop`` call, timed as ratios in one run.

A user who types ``metricloop query`` pays process start, imports and catalog parsing before
the warehouse sees any SQL. The fair baseline is a python script that opens the same DuckDB
file and runs the same compiled SQL: the difference is MetricLoop's own overhead. Runs are
interleaved (one of each per round) so a busy machine slows both sides alike; best-of-N wall
times are compared, and the CPU time (user + system) of each process is shown too: on a shared
machine it moves less with the load than the wall time.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_SCRIPT = """\
import sys

import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
for row in con.execute(open(sys.argv[2], encoding="utf-8").read()).fetchall():
    print(*row, sep="\\t")
"""


def _wall(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
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
    with tempfile.TemporaryDirectory(prefix="ml-bench-cli-") as tmp:
        script, sql_file = Path(tmp, "baseline.py"), Path(tmp, "query.sql")
        script.write_text(_SCRIPT, encoding="utf-8")
        sql_file.write_text(sql, encoding="utf-8")
        commands = {
            "python": [sys.executable, "-c", "pass"],
            "python+duckdb script": [sys.executable, str(script), db_path, str(sql_file)],
            "metricloop query": [*cli, "query", metric, "--by", by, "--grain", grain, "-p", str(project)],
            "metricloop --help": [*cli, "--help"],
        }
        for cmd in commands.values():  # warm the OS file cache and any catalog cache once
            _wall(cmd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, cmd in commands.items():
                wall, used = _wall(cmd)
                times[name].append(wall)
                cpu[name].append(used)
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
        "help_s": round(best["metricloop --help"], 3),
        "goals": {"query_ratio": 1.5, "help_s": 0.3},
    }
