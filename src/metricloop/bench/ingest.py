"""Ingest speed: rows per second of a generated CSV loaded three ways (schema, new table, append), and Parquet.

The file is generated (seeded) so the figure is reproducible; the loads go into a fresh DuckDB
file in a temporary folder, through the same ``load_file`` the CLI and API use.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.ingest.loader import load_file

SCHEMA = {"id": "BIGINT", "region": "VARCHAR", "amount": "DOUBLE", "qty": "INTEGER", "t": "TIMESTAMP"}


def write_csv(path: Path, rows: int, *, seed: int = 7, bad_every: int = 0) -> None:
    """A CSV of ``rows`` orders; every ``bad_every``-th row has an unreadable timestamp."""
    rnd = random.Random(seed)
    regions = ["华东", "华北", "华南", "west", "east"]
    with path.open("w", encoding="utf-8") as f:
        f.write("id,region,amount,qty,t\n")
        for i in range(rows):
            t = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00"
            if bad_every and i % bad_every == bad_every - 1:
                t = "not-a-time"
            f.write(f"{i},{regions[i % 5]},{rnd.random() * 100:.2f},{rnd.randint(1, 9)},{t}\n")


def report(rows: int = 1_000_000, seed: int = 7) -> dict[str, Any]:
    """Rows/s of a ``rows``-row CSV (with --schema, into a new table, appended) and of the same rows as Parquet."""
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "orders.csv"
        write_csv(csv, rows, seed=seed, bad_every=100_000)
        wh = DuckDBWarehouse(Path(tmp) / "wh.duckdb")
        parquet = Path(tmp) / "orders.parquet"
        wh.connection.execute(f"copy (select * from read_csv('{csv}', header=true, ignore_errors=true)) "
                              f"to '{parquet}' (format parquet)")
        try:
            for case, table, source, kwargs in (
                ("with --schema", "a", csv, {"schema": SCHEMA}),
                ("new table, inferred", "b", csv, {}),
                ("append, existing types", "b", csv, {}),
                ("parquet, new table", "c", parquet, {}),
            ):
                t0 = time.perf_counter()
                res = load_file(wh, source, table, **kwargs)  # type: ignore[arg-type]
                secs = time.perf_counter() - t0
                out.append({"case": case, "rows": rows, "loaded": res.rows_loaded, "rejected": res.rows_rejected,
                            "seconds": round(secs, 2), "rows_per_s": int(rows / secs)})
        finally:
            wh.close()
    return {"rows": out, "file_rows": rows, "seed": seed}
