"""A scorer for the Numenta Anomaly Benchmark (NAB), written from its published rules.

Rules (Lavin & Ahmad, ICMLA 2015, and the NAB repository's documentation; summarised in
``shared/datasets/README.md``):

* the first 15 % of each file (at most 750 rows) is a probation period and is not scored;
* a point is a detection when its anomaly score >= the threshold; one threshold per detector
  and profile for the whole corpus, chosen to maximise the corpus score;
* in a labelled window only the earliest detection counts, weighted by the scaled sigmoid of its
  position (``tpWeight`` at the window's start, ~0 at its end); a missed window costs
  ``-fnWeight``;
* a detection outside every window costs ``fpWeight`` times the scaled sigmoid of its distance
  after the preceding window in units of that window's width (-1 when none precedes it);
* normalised score = 100 * (raw - raw_null) / (raw_perfect - raw_null).

The threshold sweep is exact: every distinct score in the corpus is a candidate threshold, and the
corpus score of all of them is computed in one sorted pass (numpy), so re-scoring the whole corpus
takes well under a second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metricloop.errors import ConfigError, NotFoundError

PROBATION_PERCENT = 0.15

#: The three published cost profiles (``config/profiles.json`` in NAB).
PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11},
}


@dataclass(frozen=True)
class NabFile:
    """One data file of the corpus with its labelled windows as inclusive row ranges."""

    name: str  # relative path, e.g. "realKnownCause/nyc_taxi.csv"
    timestamps: NDArray[np.datetime64]
    values: NDArray[np.float64]
    windows: tuple[tuple[int, int], ...]

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class ProfileScore:
    """The corpus result for one cost profile at its optimal threshold."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalized: float
    tp: int  # windows detected
    fn: int  # windows missed
    fp: int  # detections outside every window (points)
    per_file: dict[str, float] = field(default_factory=dict)


def probation_length(n: int) -> int:
    """Rows not scored at the start of a file: ``min(floor(0.15 n), 0.15 * 5000)``."""
    return int(min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000))


def scaled_sigmoid(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """NAB's ``2 / (1 + exp(5 y)) - 1``, and -1 from ``y >= 3`` on."""
    out = 2.0 / (1.0 + np.exp(np.clip(5.0 * y, -700, 700))) - 1.0
    return np.where(y >= 3.0, -1.0, out)


def point_weights(
    n: int, windows: Sequence[tuple[int, int]], profile: Mapping[str, float]
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
    """The score each point would earn if it were a detection.

    Returns ``(weight, window_index, scorable)``: ``window_index`` is -1 outside windows and
    ``scorable`` is False in the probation period.
    """
    idx = np.arange(n, dtype=np.float64)
    weight = np.empty(n)
    win = np.full(n, -1, dtype=np.int64)
    max_tp = float(scaled_sigmoid(np.array([-1.0]))[0])
    # Outside windows: distance after the preceding window's right edge in widths.
    y_out = np.full(n, 3.0)
    prev_right: int | None = None
    prev_width = 0.0
    cursor = 0
    for k, (start, end) in enumerate(windows):
        width = float(end - start + 1)
        seg = slice(cursor, start)
        if prev_right is not None:
            y_out[seg] = np.abs(prev_right - idx[seg]) / (prev_width - 1.0)
        inside = slice(start, end + 1)
        win[inside] = k
        weight[inside] = (
            scaled_sigmoid(-(end - idx[inside] + 1.0) / width) * profile["tpWeight"] / max_tp
        )
        prev_right, prev_width, cursor = end, width, end + 1
    if prev_right is not None:
        y_out[cursor:] = np.abs(prev_right - idx[cursor:]) / (prev_width - 1.0)
    outside = win < 0
    weight[outside] = scaled_sigmoid(y_out[outside]) * profile["fpWeight"]
    scorable = idx >= probation_length(n)
    return weight, win, scorable


@dataclass(frozen=True)
class _Prepared:
    scores: NDArray[np.float64]
    weights: NDArray[np.float64]
    window: NDArray[np.int64]  # global window id, -1 outside
    file_id: NDArray[np.int64]
    n_windows: int  # windows with at least one scorable point


def _prepare(
    files: Sequence[NabFile], scores: Mapping[str, NDArray[np.float64]], profile: Mapping[str, float]
) -> _Prepared:
    parts_s, parts_w, parts_win, parts_f = [], [], [], []
    offset = 0
    for fid, f in enumerate(files):
        if f.name not in scores:
            raise NotFoundError(f"no detector output for NAB file {f.name}")
        s = np.asarray(scores[f.name], dtype=np.float64)
        if len(s) != f.n:
            raise ConfigError(f"{f.name}: {len(s)} scores for {f.n} rows; expected one score per row")
        w, win, ok = point_weights(f.n, f.windows, profile)
        win = np.where(win >= 0, win + offset, -1)
        offset += len(f.windows)
        parts_s.append(np.nan_to_num(s[ok], nan=0.0))
        parts_w.append(w[ok])
        parts_win.append(win[ok])
        parts_f.append(np.full(int(ok.sum()), fid, dtype=np.int64))
    window = np.concatenate(parts_win)
    return _Prepared(
        scores=np.concatenate(parts_s),
        weights=np.concatenate(parts_w),
        window=window,
        file_id=np.concatenate(parts_f),
        n_windows=len(np.unique(window[window >= 0])),
    )


def sweep(
    prep: _Prepared, fn_weight: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Corpus raw score for every candidate threshold (every distinct score), highest first.

    The first entry is the "flag nothing" threshold (+inf) whose score is the null score.
    """
    order = np.argsort(-prep.scores, kind="stable")
    s = prep.scores[order]
    w = prep.weights[order]
    win = prep.window[order]
    delta = np.where(win < 0, w, 0.0)
    in_win = win >= 0
    if in_win.any():
        # Running max of the TP weight per window in sorted order; each step adds its increase.
        frame = pd.DataFrame({"win": win[in_win], "w": np.maximum(w[in_win], -fn_weight)})
        cm = frame.groupby("win")["w"].cummax().to_numpy()
        prev = frame.assign(cm=cm).groupby("win")["cm"].shift(1).fillna(-fn_weight).to_numpy()
        delta[in_win] = cm - prev
    total = -fn_weight * prep.n_windows + np.cumsum(delta)
    # Score of threshold t = state after the last point whose score >= t.
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    thresholds = np.r_[np.inf, s[last_of_tie]]
    raw = np.r_[-fn_weight * prep.n_windows, total[last_of_tie]]
    return thresholds, raw


def score_at(
    files: Sequence[NabFile],
    scores: Mapping[str, NDArray[np.float64]],
    profile_name: str,
    threshold: float,
) -> tuple[float, dict[str, float], tuple[int, int, int]]:
    """Raw corpus score at a fixed threshold, per-file scores and (tp, fn, fp) counts."""
    profile = PROFILES[profile_name]
    per_file: dict[str, float] = {}
    tp = fn = fp = 0
    for f in files:
        w, win, ok = point_weights(f.n, f.windows, profile)
        det = (np.nan_to_num(np.asarray(scores[f.name], dtype=np.float64), nan=0.0) >= threshold) & ok
        total = float(w[det & (win < 0)].sum())
        fp += int((det & (win < 0)).sum())
        for k in range(len(f.windows)):
            members = (win == k) & ok
            if not members.any():
                continue
            hit = det & (win == k)
            if hit.any():
                total += float(w[hit].max())
                tp += 1
            else:
                total -= profile["fnWeight"]
                fn += 1
        per_file[f.name] = total
    return sum(per_file.values()), per_file, (tp, fn, fp)


def optimize(
    files: Sequence[NabFile], scores: Mapping[str, NDArray[np.float64]], profile_name: str
) -> ProfileScore:
    """Best corpus threshold for a profile and the normalised score it earns."""
    profile = PROFILES[profile_name]
    prep = _prepare(files, scores, profile)
    thresholds, raw = sweep(prep, profile["fnWeight"])
    best = int(np.argmax(raw))
    threshold = float(thresholds[best])
    null = -profile["fnWeight"] * prep.n_windows
    perfect = profile["tpWeight"] * sum(len(f.windows) for f in files)
    check, per_file, (tp, fn, fp) = score_at(files, scores, profile_name, threshold)
    assert abs(check - raw[best]) < 1e-6, (check, raw[best])
    return ProfileScore(
        profile=profile_name,
        threshold=threshold,
        raw=float(raw[best]),
        null=null,
        perfect=perfect,
        normalized=normalize(float(raw[best]), null, perfect),
        tp=tp,
        fn=fn,
        fp=fp,
        per_file=per_file,
    )


def normalize(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null)


def score_fixed(
    files: Sequence[NabFile], scores: Mapping[str, NDArray[np.float64]], profile_name: str, threshold: float
) -> ProfileScore:
    """Corpus score at a threshold chosen elsewhere (e.g. on the other half of the corpus).

    This is the honest held-out figure: :func:`optimize` picks the best threshold after seeing the
    labels of the very files it scores, which flatters any detector.
    """
    profile = PROFILES[profile_name]
    raw, per_file, (tp, fn, fp) = score_at(files, scores, profile_name, threshold)
    prep = _prepare(files, scores, profile)
    null = -profile["fnWeight"] * prep.n_windows
    perfect = profile["tpWeight"] * sum(len(f.windows) for f in files)
    return ProfileScore(
        profile=profile_name,
        threshold=threshold,
        raw=raw,
        null=null,
        perfect=perfect,
        normalized=normalize(raw, null, perfect),
        tp=tp,
        fn=fn,
        fp=fp,
        per_file=per_file,
    )


def split_halves(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Two fixed halves of a NAB-layout corpus: within each category, files sorted by name
    alternate between half A and half B.

    A is the design half (any choice of the detector may look at it), B is held out. Alternating
    inside each category keeps both halves representative of every kind of data.
    """
    by_cat: dict[str, list[str]] = {}
    for name in sorted(names):
        by_cat.setdefault(name.split("/", 1)[0], []).append(name)
    a: list[str] = []
    b: list[str] = []
    for members in by_cat.values():
        a.extend(members[0::2])
        b.extend(members[1::2])
    return a, b


def published_subset_scores(root: Path, detector: str, names: Sequence[str]) -> dict[str, float] | None:
    """Normalised scores of a published detector on a subset of files, from its per-file tables.

    The per-file tables hold each file's raw score at the detector's corpus-wide threshold, so
    the subset figure uses that threshold (chosen on the whole corpus: slightly flattering).
    Returns None when the tables are not shipped.
    """
    labels: dict[str, list[list[str]]] = json.loads((root / "labels" / "combined_windows.json").read_text())
    wanted = set(names)
    windows = sum(len(labels[n]) for n in names)
    out: dict[str, float] = {}
    for prof, weights in PROFILES.items():
        path = root / "results" / detector / f"{detector}_{prof}_scores.csv"
        if not path.is_file():
            return None
        table = pd.read_csv(path)
        raw = float(table.loc[table["File"].isin(wanted), "Score"].sum())
        out[prof] = normalize(raw, -weights["fnWeight"] * windows, weights["tpWeight"] * windows)
    return out


def score_all_profiles(
    files: Sequence[NabFile], scores: Mapping[str, NDArray[np.float64]]
) -> dict[str, ProfileScore]:
    return {p: optimize(files, scores, p) for p in PROFILES}


# --------------------------------------------------------------------------- corpus files (IO)


def _parse_ts(values: Sequence[str]) -> NDArray[np.datetime64]:
    return pd.to_datetime(pd.Series(list(values))).to_numpy(dtype="datetime64[ns]")


def load_corpus(root: Path, names: Sequence[str] | None = None) -> list[NabFile]:
    """Read ``data/`` and ``labels/combined_windows.json`` of a NAB-layout folder."""
    labels_path = root / "labels" / "combined_windows.json"
    if not labels_path.is_file():
        raise NotFoundError(f"{labels_path}: not found; expected a NAB-layout folder (data/, labels/)")
    labels: dict[str, list[list[str]]] = json.loads(labels_path.read_text())
    out: list[NabFile] = []
    for name in sorted(labels if names is None else names):
        frame = pd.read_csv(root / "data" / name)
        ts = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]")
        windows: list[tuple[int, int]] = []
        for start, end in labels[name]:
            bounds = _parse_ts([start, end])
            lo = int(np.searchsorted(ts, bounds[0]))
            hi = int(np.searchsorted(ts, bounds[1]))
            if lo >= len(ts) or ts[lo] != bounds[0] or hi >= len(ts) or ts[hi] != bounds[1]:
                raise ConfigError(f"{labels_path}: window {start}..{end} of {name} is not on the data's rows")
            windows.append((lo, hi))
        out.append(
            NabFile(
                name=name,
                timestamps=ts,
                values=frame["value"].to_numpy(dtype=np.float64),
                windows=tuple(windows),
            )
        )
    return out


def load_published_scores(root: Path, detector: str, files: Sequence[NabFile]) -> dict[str, NDArray[np.float64]]:
    """The ``anomaly_score`` column of ``results/<detector>/<category>/<detector>_<file>.csv``."""
    out: dict[str, NDArray[np.float64]] = {}
    for f in files:
        category, base = f.name.split("/", 1)
        path = root / "results" / detector / category / f"{detector}_{base}"
        if not path.is_file():
            raise NotFoundError(f"{path}: no published output of detector {detector!r}")
        out[f.name] = pd.read_csv(path, usecols=["anomaly_score"])["anomaly_score"].to_numpy(np.float64)
    return out


def load_published_table(root: Path) -> dict[str, dict[str, float]]:
    """``results/final_results.json``: the published normalised scores per detector and profile."""
    path = root / "results" / "final_results.json"
    if not path.is_file():
        return {}
    data: dict[str, dict[str, float]] = json.loads(path.read_text())
    return data


def published_detectors_with_outputs(root: Path) -> list[str]:
    """Detectors whose raw per-point outputs are shipped (folders with category subfolders)."""
    results = root / "results"
    if not results.is_dir():
        return []
    return sorted(
        d.name for d in results.iterdir() if d.is_dir() and any(p.is_dir() for p in d.iterdir())
    )


def default_detector_scores(
    files: Sequence[NabFile], params: Mapping[str, object] | None = None
) -> dict[str, NDArray[np.float64]]:
    """Anomaly scores of the default detector for every file (one configuration for all).

    NAB hands every detector the file's probation period as its learning time, so the warm-up
    is ``min(warmup, probation)``: a short file starts scoring when NAB starts counting, a long
    one keeps the configured warm-up. Files with the same warm-up are stacked into one batch
    padded with NaN at the end; the detector is causal, so padding after a file's last row
    cannot change that file's scores.
    """
    from metricloop.detect.detectors.default import DefaultParams, seasonal_phase, streaming_scores
    from metricloop.detect.registry import parse_params

    base = dict(params or {})
    p = parse_params("default", base)
    assert isinstance(p, DefaultParams)
    # one batch per (warm-up, seasonal phase layout): a daily file's day-of-week must not be
    # read as another file's hour-of-week
    groups: dict[tuple[int, int], list[tuple[NabFile, NDArray[np.int64]]]] = {}
    for f in files:
        ph, period = seasonal_phase(f.timestamps)
        key = (min(p.warmup, max(probation_length(f.n), 10)), period)
        groups.setdefault(key, []).append((f, ph))
    out: dict[str, NDArray[np.float64]] = {}
    for (warmup, period), members in groups.items():
        width = max(f.n for f, _ in members)
        values = np.full((len(members), width), np.nan)
        phase = np.zeros((len(members), width), dtype=np.int64)
        for i, (f, ph) in enumerate(members):
            values[i, : f.n] = f.values
            phase[i, : f.n] = ph
        score = streaming_scores(values, p.model_copy(update={"warmup": warmup}), phase, period)["score"]
        out.update({f.name: score[i, : f.n] for i, (f, _) in enumerate(members)})
    return {f.name: out[f.name] for f in files}
