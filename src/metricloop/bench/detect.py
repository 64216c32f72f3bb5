"""``metricloop bench detect``: accuracy and speed of the default detector.

Three modes:

* NAB (``--dataset DIR``): re-score the published detectors shipped in ``results/`` (a check
  of our scorer against ``final_results.json``), then score the default detector — one
  configuration for every file, streaming (each score uses only earlier points).
* labelled CSVs (``--data DIR``): ``timestamp,value,label`` files; event-level precision, recall
  and F1 with the point-adjust protocol, plus points/s.
* speed (``--speed``): generated, seeded series with injected anomalies; points/s of the default
  detector over all of them and, side by side on a subset, a per-series model (Prophet or
  statsmodels ETS) with its accuracy on the same series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metricloop.bench import nab
from metricloop.detect.detectors.default import DefaultParams, seasonal_phase, streaming_scores
from metricloop.detect.registry import parse_params
from metricloop.errors import ConfigError, NotFoundError

BoolArray = NDArray[np.bool_]


def default_params(**overrides: Any) -> DefaultParams:
    p = parse_params("default", overrides)
    assert isinstance(p, DefaultParams)
    return p


def default_flags(
    values: NDArray[np.float64],
    phase: NDArray[np.int64] | None = None,
    period: int = 1,
    params: DefaultParams | None = None,
    chunk: int = 2048,
) -> tuple[NDArray[np.float64], BoolArray]:
    """Scores and flags (score >= the warning level) of the default detector, in row chunks.

    ``phase``/``period`` from :func:`seasonal_phase` (shared 1-D or one row per series).
    """
    p = params or default_params()
    scores = np.empty(values.shape)
    for r0 in range(0, values.shape[0], chunk):
        ph = None if phase is None else (phase if phase.ndim == 1 else phase[r0 : r0 + chunk])
        scores[r0 : r0 + chunk] = streaming_scores(values[r0 : r0 + chunk], p, ph, period)["score"]
    return scores, scores >= p.warning


# --------------------------------------------------------------------------- NAB


def nab_report(root: Path) -> dict[str, Any]:
    """Published detectors re-scored next to their published scores, then the default detector."""
    files = nab.load_corpus(root)
    published = nab.load_published_table(root)
    rows: list[dict[str, Any]] = []
    for det in nab.published_detectors_with_outputs(root):
        res = nab.score_all_profiles(files, nab.load_published_scores(root, det, files))
        rows.append(_nab_row(det, res, published.get(det)))
    t0 = time.perf_counter()
    ours = nab.default_detector_scores(files)
    elapsed = time.perf_counter() - t0
    res = nab.score_all_profiles(files, ours)
    rows.append(_nab_row("metricloop default", res, None))
    points = sum(f.n for f in files)
    return {
        "files": len(files),
        "windows": sum(len(f.windows) for f in files),
        "points": points,
        "rows": rows,
        "default_seconds": elapsed,
        "default_points_per_s": points / elapsed if elapsed > 0 else None,
        "published": {k: v for k, v in published.items() if k in {"ARTime", "numenta", "contextOSE", "null"}},
    }


def _nab_row(name: str, res: dict[str, nab.ProfileScore], published: dict[str, float] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"detector": name}
    for prof, short in (("standard", "standard"), ("reward_low_FP_rate", "low_FP"), ("reward_low_FN_rate", "low_FN")):
        row[short] = round(res[prof].normalized, 2)
        if published is not None:
            row[f"{short}_published"] = round(published[prof], 2)
    st = res["standard"]
    row.update(threshold=round(st.threshold, 4), windows_detected=st.tp, windows_missed=st.fn, fp_points=st.fp)
    return row


# --------------------------------------------------------------------------- event-level F1


@dataclass(frozen=True)
class EventScore:
    segments: int
    detected: int
    predicted_events: int
    false_events: int
    pa_precision: float  # point-adjusted, point-wise
    pa_recall: float

    @property
    def precision(self) -> float:
        denom = self.detected + self.false_events
        return self.detected / denom if denom else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.segments if self.segments else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def pa_f1(self) -> float:
        p, r = self.pa_precision, self.pa_recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _runs(mask: BoolArray) -> list[tuple[int, int]]:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    br = np.flatnonzero(np.diff(idx) > 1)
    return list(zip(np.r_[idx[0], idx[br + 1]].tolist(), np.r_[idx[br], idx[-1]].tolist(), strict=True))


def event_score(labels: Sequence[BoolArray], flags: Sequence[BoolArray]) -> EventScore:
    """Event-level scores over many series.

    A labelled segment (run of label 1) counts once and is detected if any of its points is
    flagged. A predicted event (run of flagged points) that touches no segment is a false event.
    Precision = detected / (detected + false events), recall = detected / segments. Also the
    point-adjust protocol of Xu et al. (WWW 2018): every point of a detected segment counts as
    detected, then point-wise precision/recall.
    """
    segs = det = pred = false = 0
    tp = fp = fn = 0
    for lab, flg in zip(labels, flags, strict=True):
        lab = np.asarray(lab, dtype=bool)
        flg = np.asarray(flg, dtype=bool)
        adjusted = flg.copy()
        for a, b in _runs(lab):
            segs += 1
            if flg[a : b + 1].any():
                det += 1
                adjusted[a : b + 1] = True
        for a, b in _runs(flg):
            pred += 1
            if not lab[a : b + 1].any():
                false += 1
        tp += int((adjusted & lab).sum())
        fp += int((adjusted & ~lab).sum())
        fn += int((~adjusted & lab).sum())
    return EventScore(
        segments=segs,
        detected=det,
        predicted_events=pred,
        false_events=false,
        pa_precision=tp / (tp + fp) if tp + fp else 0.0,
        pa_recall=tp / (tp + fn) if tp + fn else 0.0,
    )


def _score_row(name: str, s: EventScore, points: int, seconds: float) -> dict[str, Any]:
    return {
        "detector": name,
        "segments": s.segments,
        "detected": s.detected,
        "false_events": s.false_events,
        "precision": round(s.precision, 3),
        "recall": round(s.recall, 3),
        "f1": round(s.f1, 3),
        "pa_f1": round(s.pa_f1, 3),
        "points": points,
        "seconds": round(seconds, 3),
        "points_per_s": round(points / seconds) if seconds > 0 else None,
    }


def load_labelled_dir(folder: Path) -> list[tuple[str, NDArray[np.float64], BoolArray, NDArray[np.datetime64]]]:
    """Every ``*.csv`` with ``timestamp,value,label`` columns, sorted by name."""
    paths = sorted(folder.rglob("*.csv"))
    if not paths:
        raise NotFoundError(f"{folder}: no CSV files; expected files with columns timestamp,value,label")
    out = []
    for path in paths:
        frame = pd.read_csv(path)
        missing = {"timestamp", "value", "label"} - set(frame.columns)
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected timestamp,value,label")
        frame = frame.sort_values("timestamp", kind="stable")
        out.append((
            str(path.relative_to(folder)),
            frame["value"].to_numpy(np.float64),
            frame["label"].to_numpy() > 0,
            pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]"),
        ))
    return out


def data_report(folder: Path) -> dict[str, Any]:
    """Default detector on a folder of labelled CSVs: event-level P/R/F1 and points/s."""
    series = load_labelled_dir(folder)
    width = max(len(v) for _, v, _, _ in series)
    values = np.full((len(series), width), np.nan)
    phase = np.zeros((len(series), width), dtype=np.int64)
    period = 1
    for i, (_, v, _, ts) in enumerate(series):
        values[i, : len(v)] = v
        ph, per = seasonal_phase(ts)
        phase[i, : len(v)] = ph
        period = max(period, per)
    t0 = time.perf_counter()
    _, flags = default_flags(values, phase, period)
    elapsed = time.perf_counter() - t0
    labels = [lab for _, _, lab, _ in series]
    cut = [flags[i, : len(lab)] for i, lab in enumerate(labels)]
    total = event_score(labels, cut)
    per_file = [
        {"file": name, **_score_row("default", event_score([lab], [cut[i]]), len(lab), 0.0)}
        for i, (name, _, lab, _) in enumerate(series)
    ]
    for row in per_file:
        for k in ("detector", "seconds", "points_per_s"):
            row.pop(k)
    points = sum(len(lab) for lab in labels)
    return {"total": _score_row("default", total, points, elapsed), "files": per_file}


# --------------------------------------------------------------------------- speed


def generate(
    n_series: int, n_points: int, seed: int = 7
) -> tuple[NDArray[np.float64], BoolArray, NDArray[np.datetime64]]:
    """Hourly KPI-like series (level, daily and weekly season, noise) with injected anomalies.

    Anomalies (after the first 20 % of points): spikes (1–3 points), dips (level −30..−60 %
    for 6–48 points) and level shifts (±4..8 noise sigmas for 24–120 points); about 2 per
    series, none in a quarter of the series. Labels mark the anomalous points.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    level = rng.lognormal(mean=6.0, sigma=1.5, size=(n_series, 1))
    phase = rng.integers(0, 24, (n_series, 1))
    daily = rng.uniform(0.0, 0.4, size=(n_series, 1)) * np.sin(2 * np.pi * (t[None, :] + phase) / 24)
    weekly = rng.uniform(0.0, 0.15, size=(n_series, 1)) * np.sin(2 * np.pi * t[None, :] / 168)
    noise_sd = rng.uniform(0.02, 0.08, size=(n_series, 1))
    values = level * (1 + daily + weekly + noise_sd * rng.standard_normal((n_series, n_points)))
    labels = np.zeros((n_series, n_points), dtype=bool)
    lo = max(int(0.2 * n_points), 1)
    counts = rng.choice([0, 1, 2, 3], size=n_series, p=[0.25, 0.25, 0.25, 0.25])
    for i in np.flatnonzero(counts):
        for _ in range(int(counts[i])):
            kind = rng.integers(0, 3)
            start = int(rng.integers(lo, max(lo + 1, n_points - 130)))
            sd = float(level[i, 0] * noise_sd[i, 0])
            if kind == 0:
                length = int(rng.integers(1, 4))
                values[i, start : start + length] += rng.choice([-1, 1]) * rng.uniform(6, 12) * sd
            elif kind == 1:
                length = int(rng.integers(6, 49))
                values[i, start : start + length] *= 1 - rng.uniform(0.3, 0.6)
            else:
                length = int(rng.integers(24, 121))
                values[i, start : start + length] += rng.choice([-1, 1]) * rng.uniform(4, 8) * sd
            labels[i, start : start + length] = True
    ts = np.datetime64("2024-01-01T00:00") + np.arange(n_points).astype("timedelta64[h]")
    return values, labels, ts


def _prophet_flags(values: NDArray[np.float64], ts: NDArray[np.datetime64]) -> BoolArray:
    """Prophet per series: fit on the series, flag points outside its 99 % interval."""
    from prophet import Prophet

    for name in ("cmdstanpy", "prophet"):  # one INFO line per fit otherwise
        logging.getLogger(name).disabled = True
    frame = pd.DataFrame({"ds": pd.to_datetime(ts)})
    out = np.zeros(values.shape, dtype=bool)
    for i, y in enumerate(values):
        model = Prophet(interval_width=0.99, daily_seasonality=True, weekly_seasonality=True,
                        yearly_seasonality=False, uncertainty_samples=200)
        model.fit(frame.assign(y=y))
        fc = model.predict(frame)
        out[i] = (y < fc["yhat_lower"].to_numpy()) | (y > fc["yhat_upper"].to_numpy())
    return out


def _ets_flags(values: NDArray[np.float64], ts: NDArray[np.datetime64]) -> BoolArray:
    """statsmodels Holt-Winters per series (additive daily season), residual beyond 4 robust sigmas."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    out = np.zeros(values.shape, dtype=bool)
    for i, y in enumerate(values):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ExponentialSmoothing(y, trend=None, seasonal="add", seasonal_periods=24).fit()
        resid = y - fit.fittedvalues
        mad = 1.4826 * np.median(np.abs(resid - np.median(resid)))
        out[i] = np.abs(resid) > 4 * max(mad, 1e-12)
    return out


BASELINES: dict[str, Callable[[NDArray[np.float64], NDArray[np.datetime64]], BoolArray]] = {
    "prophet": _prophet_flags,
    "ets": _ets_flags,
}


def speed_report(
    n_series: int = 10_000,
    n_points: int = 2_000,
    *,
    baseline: str | None = "prophet",
    subset: int = 20,
    seed: int = 7,
) -> dict[str, Any]:
    """Points/s and event-level accuracy of the default detector, and of a per-series model."""
    values, labels, ts = generate(n_series, n_points, seed)
    phase, period = seasonal_phase(ts)
    t0 = time.perf_counter()
    _, flags = default_flags(values, phase, period)
    elapsed = time.perf_counter() - t0
    rows = [_score_row("default (all series)", event_score(list(labels), list(flags)), values.size, elapsed)]
    out: dict[str, Any] = {"series": n_series, "points_per_series": n_points, "seed": seed, "rows": rows}
    if baseline:
        if baseline not in BASELINES:
            raise ConfigError(f"unknown baseline {baseline!r}; expected one of {', '.join(BASELINES)}")
        k = min(subset, n_series)
        sub_v, sub_l = values[:k], labels[:k]
        t0 = time.perf_counter()
        _, sub_f = default_flags(sub_v, phase, period)
        t_ours = time.perf_counter() - t0
        rows.append(_score_row(f"default (subset {k})", event_score(list(sub_l), list(sub_f)), sub_v.size, t_ours))
        t0 = time.perf_counter()
        base_f = BASELINES[baseline](sub_v, ts)
        t_base = time.perf_counter() - t0
        base_score = event_score(list(sub_l), list(base_f))
        rows.append(_score_row(f"{baseline} per series (subset {k})", base_score, sub_v.size, t_base))
        full_rate = values.size / elapsed
        out["speedup_vs_baseline"] = full_rate / (sub_v.size / t_base) if t_base > 0 else None
    return out
