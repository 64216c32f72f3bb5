"""``metricloop bench api``: queries per second and latency of ``POST /api/v1/query`` under load.

The benchmark starts ``metricloop serve`` itself on 127.0.0.1 (no scheduler, no UI), signs in with
an API token of a bench user it creates, and sends a set of distinct dashboard-like metric queries
(metrics x dimension x grain x time range) from ``concurrency`` httpx clients:

- ``no cache``: a server with ``METRICLOOP_RESULT_CACHE_MB=0``, every query runs in DuckDB;
- ``cold``: a server with the result cache, each query sent once (every answer is a miss);
- ``warm``: the same server, the set sent ``repeats`` times again (answers from the cache);
- ``baseline server`` (``--baseline-src DIR``): the same two passes against a server running
  another checkout's code (``DIR`` holds its ``metricloop`` package: the "before" of a change);
- ``duckdb``: the baseline, the same compiled SQL straight on DuckDB from as many threads in one
  process (no HTTP, no auth, no audit, no JSON).

Each phase reports queries per second and the p50/p99 latency seen by the clients; every answer
must be 200 and a warm answer must equal the cold answer to the same query, or the figure is void.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metricloop.engine.query import MetricQuery
from metricloop.errors import ConfigError

BENCH_USER = "bench-api"

# the demo's metrics and dimensions (metricloop init DIR --demo)
METRIC_SETS = (["gmv"], ["orders", "buyers"], ["aov"], ["items_per_order"], ["refund_rate"], ["gmv", "orders"])
DIMENSIONS = ("region", "channel", "category", "province")
GRAINS = ("day", "week")
WINDOWS = (("2026-03-01", "2026-03-31"), ("2026-04-01", "2026-04-30"), ("2026-05-01", "2026-05-31"),
           ("2026-06-01", "2026-06-30"), ("2026-07-01", "2026-07-31"))


def query_set(limit: int | None = None) -> list[MetricQuery]:
    """Distinct queries: every metric set x dimension x grain x month (240 by default)."""
    out = [MetricQuery(metrics=m, group_by=[d], grain=g, start=s, end=e)
           for (s, e) in WINDOWS for g in GRAINS for d in DIMENSIONS for m in METRIC_SETS]
    return out[:limit] if limit else out


@dataclass
class Phase:
    phase: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int = 0
    identical: bool | None = None
    server_cpu: float | None = None  # the server process's CPU seconds (user + system) in the phase
    client_cpu: float | None = None  # this process's (the httpx clients')

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else 0.0

        return {"phase": self.phase, "requests": self.requests, "qps": round(self.requests / self.seconds, 1),
                "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else 0.0,
                "errors": self.errors, "identical": self.identical,
                # CPU per request moves less than the wall time with a shared machine's load
                "server_cpu_ms": round(self.server_cpu / self.requests * 1000, 2) if self.server_cpu else None,
                # what one core given to the server alone could answer at that CPU cost
                "qps_per_core": round(self.requests / self.server_cpu, 1) if self.server_cpu else None,
                "client_cpu_ms": round(self.client_cpu / self.requests * 1000, 2) if self.client_cpu else None}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(project: Path) -> str:
    """A fresh API token of the bench user (created as an analyst when missing)."""
    from metricloop.service import MetricLoop

    ml = MetricLoop.open(project)
    try:
        if BENCH_USER not in {u.username for u in ml.access.users()}:
            ml.access.create_user(BENCH_USER, role="analyst", password=None, actor="bench")
        token, _ = ml.access.create_token(BENCH_USER, "bench api", days=1, actor="bench")
        return token
    finally:
        ml.close()


def _compiled(project: Path, queries: list[MetricQuery]) -> list[str]:
    from metricloop.service import MetricLoop

    ml = MetricLoop.open(project)
    try:
        return [ml.compile(q).sql for q in queries]
    finally:
        ml.close()


def _duckdb_baseline(project: Path, sqls: list[str], concurrency: int) -> Phase:
    """The compiled SQL straight on the project's DuckDB file, ``concurrency`` threads, one process."""
    import duckdb

    from metricloop.project import Project

    proj = Project.load(project)
    con = duckdb.connect(str(proj.duckdb_path(proj.warehouse(None))), read_only=True)
    latencies: list[float] = []
    lock = threading.Lock()
    todo = list(reversed(sqls))

    def worker() -> None:
        cur = con.cursor()
        while True:
            with lock:
                if not todo:
                    break
                sql = todo.pop()
            t0 = time.perf_counter()
            cur.execute(sql).fetchall()
            with lock:
                latencies.append(time.perf_counter() - t0)
        cur.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    con.close()
    return Phase("duckdb (same SQL, no HTTP)", len(sqls), seconds, latencies)


class Server:
    """``metricloop serve`` in a child process on a free loopback port."""

    def __init__(self, project: Path, *, cache_mb: float | None, log: Path, src: Path | None = None) -> None:
        self.port = _free_port()
        env = dict(os.environ)
        if src is not None:  # another checkout's code (the "before" of a change)
            env["PYTHONPATH"] = str(Path(src).resolve())
        if cache_mb is not None:
            env["METRICLOOP_RESULT_CACHE_MB"] = str(cache_mb)
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "metricloop", "serve", "-p", str(project), "--host", "127.0.0.1",
             "--port", str(self.port), "--no-scheduler", "--no-ui"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 180.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(f"the server exited with {self.proc.returncode} (log: {self._log.name})",
                                  zh=f"服务进程已退出（日志：{self._log.name}）")
            try:
                if httpx.get(f"{self.url}/api/v1/healthz", timeout=2.0).status_code < 600:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise ConfigError(f"the server did not answer within {timeout:.0f} s (log: {self._log.name})",
                          zh=f"服务在 {timeout:.0f} 秒内未响应（日志：{self._log.name}）")

    def cpu(self) -> float:
        """CPU seconds (user + system) the server process used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


async def _load(url: str, token: str, bodies: list[dict[str, Any]], concurrency: int,
                answers: dict[int, Any]) -> tuple[float, list[float], int]:
    """Send ``bodies`` (index, body) from ``concurrency`` clients; answers[index] = rows."""
    import httpx

    queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)  # type: ignore[arg-type]
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            index, body = queue.get_nowait()
            t0 = time.perf_counter()
            resp = await http.post("/api/v1/query", json=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            if resp.status_code != 200:
                errors += 1
                continue
            answers.setdefault(index, resp.json()["rows"])
            if answers[index] != resp.json()["rows"]:
                answers[-1 - index] = "differs"

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120.0) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        return time.perf_counter() - t0, latencies, errors


def _phase(name: str, server: Server, token: str, bodies: list[Any], concurrency: int, answers: dict[int, Any],
           check: bool = False) -> Phase:
    cpu0, mine0 = server.cpu(), _own_cpu()
    seconds, latencies, errors = asyncio.run(_load(server.url, token, bodies, concurrency, answers))
    identical = None
    if check:
        identical = not any(k < 0 for k in answers)
    return Phase(name, len(bodies), seconds, latencies, errors, identical, server.cpu() - cpu0, _own_cpu() - mine0)


def _own_cpu() -> float:
    import resource

    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def run(project: Path, *, concurrency: int = 20, repeats: int = 3, queries: int | None = None,
        uncached: bool = True, baseline_src: Path | None = None) -> dict[str, Any]:
    """Run the phases against ``project`` (a demo); returns a JSON-ready report."""
    project = Path(project).resolve()
    chosen = query_set(queries)
    bodies = [(i, q.model_dump(mode="json", exclude_defaults=True)) for i, q in enumerate(chosen)]
    sqls = _compiled(project, chosen)
    token = _token(project)
    logs = Path(tempfile.mkdtemp(prefix="ml-bench-api-"))
    phases: list[Phase] = []
    phases.append(_duckdb_baseline(project, sqls, concurrency))
    if baseline_src is not None:
        server = Server(project, cache_mb=None, log=logs / "baseline.log", src=baseline_src)
        try:
            server.wait()
            phases.append(_phase(f"baseline server ({baseline_src}), first time", server, token, bodies,
                                 concurrency, {}))
            phases.append(_phase(f"baseline server ({baseline_src}), repeated", server, token, bodies * repeats,
                                 concurrency, {}))
        finally:
            server.stop()
    if uncached:
        server = Server(project, cache_mb=0, log=logs / "uncached.log")
        try:
            server.wait()
            phases.append(_phase("no cache", server, token, bodies, concurrency, {}))
        finally:
            server.stop()
    server = Server(project, cache_mb=None, log=logs / "cached.log")
    answers: dict[int, Any] = {}
    try:
        server.wait()
        phases.append(_phase("cold (cache, first time)", server, token, bodies, concurrency, answers))
        phases.append(_phase("warm (cache, repeated)", server, token, bodies * repeats, concurrency, answers,
                             check=True))
    finally:
        server.stop()
    report = [p.as_dict() for p in phases]
    base = report[0]["qps"]
    for r in report:
        r["qps_vs_duckdb"] = round(r["qps"] / base, 2) if base else None
    warm = report[-1]
    return {
        "project": str(project),
        "concurrency": concurrency,
        "distinct_queries": len(chosen),
        "repeats": repeats,
        "phases": report,
        "warm_qps": warm["qps"],
        "warm_p99_ms": warm["p99_ms"],
        "goal_met": warm["qps"] >= 150 and warm["p99_ms"] <= 300 and not warm["errors"] and bool(warm["identical"]),
        "logs": str(logs),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "note": json.dumps({"cache_env": "METRICLOOP_RESULT_CACHE_MB"}),
    }
