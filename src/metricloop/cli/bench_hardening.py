"""``metricloop bench hardening``: what a hostile request costs a running server (issue 14).

Against a served MetricLoop (``--url``, an API token): a query whose ``where`` is 60 KB, then
50 MB, each sent while ``/healthz`` is timed from another connection; plus ``redact()`` on
60 KB and 50 MB in this process. Point it at an older build to compare.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.render import emit


def _hostile(url: str, token: str, size: int, timeout: float) -> dict[str, Any]:
    import httpx

    body = b'{"metrics": ["gmv"], "where": "region = \'' + b"x" * size + b'"}'
    heavy: dict[str, Any] = {}

    def send() -> None:
        start = time.perf_counter()
        try:
            r = httpx.post(f"{url}/api/v1/query", content=body, timeout=timeout,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            heavy["status"] = r.status_code
            heavy["bytes"] = len(r.content)
        except httpx.HTTPError as exc:
            heavy["status"] = type(exc).__name__
        heavy["seconds"] = time.perf_counter() - start
        heavy["done"] = time.perf_counter()

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + timeout
    with httpx.Client(timeout=timeout) as probe:  # /healthz every 0.1 s while the hostile request runs
        while worker.is_alive() and time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                ok = probe.get(f"{url}/healthz").status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - start)
            failures += not ok
            time.sleep(0.1)
    worker.join(1)
    return {"where": f"{size / 1e6:g} MB" if size >= 1e6 else f"{size // 1000} KB",
            "answer": heavy.get("status", f"none in {timeout:g} s"),
            "answer_s": round(heavy["seconds"], 3) if "seconds" in heavy else None,
            "answer_bytes": heavy.get("bytes"),
            "healthz_probes": len(latencies), "healthz_failed": failures,
            "healthz_max_s": round(max(latencies), 3) if latencies else None}


def _redact(size: int) -> dict[str, Any]:
    from metricloop.secrets import redact, register

    register("bench-secret-value-123")
    text = ("region = 'key=bench-secret-value-123 https://u:pw@h/ x' " * (size // 50 + 1))[:size]
    start = time.perf_counter()
    out = redact(text)
    return {"input": f"{size / 1e6:g} MB" if size >= 1e6 else f"{size // 1000} KB",
            "seconds": round(time.perf_counter() - start, 3), "secret_left": "bench-secret-value-123" in out}


@bench_app.command("hardening")
def bench_hardening(
    url: str | None = typer.Option(None, "--url", help="A running `metricloop serve` (e.g. http://127.0.0.1:8000)."),
    token: str = typer.Option("", "--token", help="An API token of that server (metricloop users token NAME)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Give up on an answer after this many seconds."),
    sizes: str = typer.Option("60000,50000000", "--sizes", help="Sizes of the hostile where, in bytes."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Seconds to answer a hostile `where`, /healthz latency meanwhile, and redact() time."""
    wanted = [int(s) for s in sizes.split(",") if s.strip()]
    emit([_redact(n) for n in wanted], fmt, title="redact()")
    if url:
        emit([_hostile(url.rstrip("/"), token, n, timeout) for n in wanted], fmt,
             title="hostile where vs /healthz")
