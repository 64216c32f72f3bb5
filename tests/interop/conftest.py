"""The MetricFlow conformance suite lives outside the repo (../shared); tests that need it skip
with the reason when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SUITE = Path(
    os.environ.get("METRICLOOP_MF_SUITE", Path(__file__).resolve().parents[3] / "shared" / "conformance" / "metricflow")
)


@pytest.fixture(scope="session")
def suite() -> Path:
    if not (SUITE / "cases").is_dir():
        pytest.skip(f"MetricFlow conformance suite not found at {SUITE} (set METRICLOOP_MF_SUITE)")
    return SUITE
