"""Seeded synthetic series with known anomalies, shared by the detect tests."""

from __future__ import annotations

import numpy as np

from metricloop.detect import SeriesBatch


def hourly(n_points: int = 24 * 7 * 8, n_series: int = 3, seed: int = 1, noise: float = 2.0) -> SeriesBatch:
    """Hourly series with a daily cycle (level 100, amplitude 30) and gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    base = 100 + 30 * np.sin(2 * np.pi * t / 24)
    values = base[None, :] + rng.normal(0, noise, (n_series, n_points))
    ts = np.datetime64("2024-01-01T00:00") + t.astype("timedelta64[h]")
    return SeriesBatch(values=values, timestamps=ts, grain="hour")


def daily(n_points: int = 200, n_series: int = 2, seed: int = 2, noise: float = 1.0) -> SeriesBatch:
    """Daily series with a weekly pattern (weekends lower)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    weekly = np.where(t % 7 >= 5, 80.0, 100.0)
    values = weekly[None, :] + rng.normal(0, noise, (n_series, n_points))
    ts = np.datetime64("2024-01-01") + t.astype("timedelta64[D]")
    return SeriesBatch(values=values, timestamps=ts, grain="day")


def with_values(batch: SeriesBatch, values: np.ndarray) -> SeriesBatch:
    return SeriesBatch(values=values, timestamps=batch.timestamps, grain=batch.grain, keys=batch.keys)
