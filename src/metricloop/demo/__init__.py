"""The demo company: a seeded Chinese e-commerce business with injected, known incidents.

    data = generate(seed=42)            # pyarrow tables + ground truth
    write(data, Path("shop/data"))      # Parquet files + ground_truth.json
    write_stream(Path("shop/data"), scale=10)  # the same, a chunk of days at a time (bounded memory)
"""

from metricloop.demo.generator import DemoData, IncidentTruth, generate
from metricloop.demo.incidents import DEFAULT_INCIDENTS, METRICS, IncidentSpec
from metricloop.demo.io import GROUND_TRUTH_FILE, write, write_stream

__all__ = [
    "DEFAULT_INCIDENTS",
    "GROUND_TRUTH_FILE",
    "METRICS",
    "DemoData",
    "IncidentSpec",
    "IncidentTruth",
    "generate",
    "write",
    "write_stream",
]
