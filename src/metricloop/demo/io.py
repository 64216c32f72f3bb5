"""Writing the demo data to disk: one Parquet file per table plus ``ground_truth.json``.

Kept apart from the generator so that generation stays pure (arrays in, tables out).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from metricloop.demo.generator import DemoData

GROUND_TRUTH_FILE = "ground_truth.json"


def write(data: DemoData, folder: Path) -> dict[str, Path]:
    """Write every table as ``<name>.parquet`` and the ground truth; return name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, table in data.tables().items():
        path = folder / f"{name}.parquet"
        pq.write_table(table, path, compression="zstd")
        paths[name] = path
    truth = {
        "generator": {
            "start": data.start.isoformat(),
            "end": data.end.isoformat(),
            "seed": data.seed,
            "scale": data.scale,
            "timezone": "Asia/Shanghai",
        },
        "incidents": data.ground_truth(),
    }
    path = folder / GROUND_TRUTH_FILE
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    paths["ground_truth"] = path
    return paths
