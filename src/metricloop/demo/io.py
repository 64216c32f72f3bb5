"""Writing the demo data to disk: one Parquet file per table plus ``ground_truth.json``.

Kept apart from the generator so that generation stays pure (arrays in, tables out).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from metricloop.demo.calendar import REFERENCE_END, REFERENCE_START
from metricloop.demo.generator import DemoData, stream

GROUND_TRUTH_FILE = "ground_truth.json"


def _release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps a chunk's freed arrays in its heap, so the
    process's RSS would creep up chunk after chunk); a no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _ParquetSink:
    """One Parquet writer per table; each piece becomes row groups of its file as it arrives."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def __call__(self, name: str, piece: pa.Table) -> None:
        _release_free_memory()  # what the previous piece (and chunk) left behind
        if name not in self.writers:
            self.writers[name] = pq.ParquetWriter(self.folder / f"{name}.parquet", piece.schema, compression="zstd")
            self.rows[name] = 0
        self.writers[name].write_table(piece)
        self.rows[name] += piece.num_rows

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def write_stream(
    folder: Path, *, start: date = REFERENCE_START, end: date = REFERENCE_END, seed: int = 42, scale: float = 1.0
) -> tuple[dict[str, Path], dict[str, int]]:
    """Generate the demo straight into ``<name>.parquet`` files a chunk of days at a time (memory
    bounded at any scale) plus the ground truth; return name -> path and name -> rows."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sink = _ParquetSink(folder)
    try:
        truths = stream(sink, start, end, seed=seed, scale=scale)
    finally:
        sink.close()
    paths = {name: folder / f"{name}.parquet" for name in sink.writers}
    paths["ground_truth"] = _write_truth(folder, start, end, seed, scale, [t.to_dict() for t in truths])
    return paths, sink.rows


def _write_truth(folder: Path, start: date, end: date, seed: int, scale: float, incidents: list[Any]) -> Path:
    truth = {
        "generator": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "seed": seed,
            "scale": scale,
            "timezone": "Asia/Shanghai",
        },
        "incidents": incidents,
    }
    path = folder / GROUND_TRUTH_FILE
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write(data: DemoData, folder: Path) -> dict[str, Path]:
    """Write every table as ``<name>.parquet`` and the ground truth; return name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, table in data.tables().items():
        path = folder / f"{name}.parquet"
        pq.write_table(table, path, compression="zstd")
        paths[name] = path
    paths["ground_truth"] = _write_truth(folder, data.start, data.end, data.seed, data.scale, data.ground_truth())
    return paths
