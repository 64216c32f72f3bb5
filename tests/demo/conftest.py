"""Shared demo datasets: generated once per test session, small enough to keep the suite fast."""

from __future__ import annotations

from datetime import date

import pytest

from metricloop.demo import DemoData, generate


@pytest.fixture(scope="session")
def recent() -> DemoData:
    """Scale 1.0 over the last seven months: holds most injected incidents, with counterfactual."""
    return generate(date(2026, 3, 1), date(2026, 10, 1), seed=42, scale=1.0, counterfactual=True)


@pytest.fixture(scope="session")
def early() -> DemoData:
    """Scale 1.0 over spring-summer 2025: the two earlier incidents, with counterfactual."""
    return generate(date(2025, 2, 20), date(2025, 8, 20), seed=42, scale=1.0, counterfactual=True)


@pytest.fixture(scope="session")
def two_years() -> DemoData:
    """The full default range at a small scale (seasonality, growth, channel drift)."""
    return generate(seed=42, scale=0.05)
