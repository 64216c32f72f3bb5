"""``metricloop bench detect --suite``: one scoreboard over several labelled corpora.

Why: a detector shaped by one benchmark's cost model (NAB rewards one early alarm per window)
can look good there and find almost nothing elsewhere. The suite runs every detector on every
corpus in one run, with the same metrics, next to a plain trailing rolling z-score:

* NAB (its own normalised standard score at the corpus-optimal threshold, as NAB's protocol
  allows; the F1 columns use the detector's own ``warning`` level and NAB's windows as labels);
* Salesforce Merlion's synthetic anomaly series (pooled over the 15 files);
* the seeded business KPIs (:func:`metricloop.bench.detect.business_series`, seeds 1 and 2), at
  detector level and at monitor level (events after the monitor's noise control);
* any ``--data`` folder of ``timestamp,value,label`` CSVs (column names in any letter case).

Metrics, pooled over every series of a corpus (:func:`suite_metrics`):

* ``pa_f1``: point-adjusted F1 (Xu et al., WWW 2018): a labelled segment with any flagged point
  counts as wholly detected, then point-wise precision and recall;
* ``delay7_f1``: the AIOps 2018 KPI-challenge protocol: a segment counts as wholly detected only
  when a point within ``delay`` (7) points of its start is flagged, otherwise wholly missed;
  point-wise precision and recall after that adjustment;
* event precision / recall (a segment is found when any of its points is flagged; a run of
  flagged points touching no segment is a false event) and false events per 1,000 points;
* points/s of the detector on that corpus (wall clock, this machine).

All flags are at each detector's own ``warning`` level: one configuration, no per-corpus
threshold (except NAB's own score, whose protocol picks the corpus-best threshold).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metricloop.bench import nab
from metricloop.detect import registry
from metricloop.detect.types import SeriesBatch

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]

#: Detectors that cannot run without a configuration of their own, or do not judge values.
NEEDS_CONFIG = {"composite": "needs rules", "threshold": "needs fixed bounds", "missing": "judges gaps, not values"}
ZSCORE = "rolling z-score (288, |z|>4)"
#: Detectors also scored at monitor level (events after noise control) on the business corpora: the
#: monitor default's candidates and the seasonal baseline. The others open thousands of events there
#: (change_rate: a monitor-level pass alone takes minutes), so their detector-level rows stand.
MONITOR_LEVEL = ("default", "ensemble", "seasonal")
DELAY = 7


# --------------------------------------------------------------------------- metrics


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """Inclusive ``(start, end)`` of every run of True."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    if idx.size == 0:
        return []
    br = np.flatnonzero(np.diff(idx) > 1)
    return list(zip(np.r_[idx[0], idx[br + 1]].tolist(), np.r_[idx[br], idx[-1]].tolist(), strict=True))


@dataclass
class Counts:
    """Pooled counts behind the suite's metrics (add them over series, then read the ratios)."""

    points: int = 0
    segments: int = 0
    found: int = 0  # segments with any flagged point
    false_events: int = 0  # runs of flags touching no segment
    pa_tp: int = 0
    pa_fp: int = 0
    pa_fn: int = 0
    d_tp: int = 0
    d_fn: int = 0

    def add(self, labels: BoolArray, flags: BoolArray, delay: int = DELAY) -> None:
        lab = np.asarray(labels, dtype=bool)
        flg = np.asarray(flags, dtype=bool)
        self.points += lab.size
        fp = int((flg & ~lab).sum())
        self.pa_fp += fp
        for a, b in runs(lab):
            n = b - a + 1
            self.segments += 1
            if flg[a : b + 1].any():
                self.found += 1
                self.pa_tp += n
            else:
                self.pa_fn += n
            if flg[a : min(a + delay, b) + 1].any():
                self.d_tp += n
            else:
                self.d_fn += n
        for a, b in runs(flg):
            if not lab[a : b + 1].any():
                self.false_events += 1

    @staticmethod
    def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def metrics(self) -> dict[str, float]:
        _, _, pa = self._f1(self.pa_tp, self.pa_fp, self.pa_fn)
        _, _, d7 = self._f1(self.d_tp, self.pa_fp, self.d_fn)
        ev_p = self.found / (self.found + self.false_events) if self.found + self.false_events else 0.0
        ev_r = self.found / self.segments if self.segments else 0.0
        return {
            "pa_f1": pa,
            "delay7_f1": d7,
            "precision": ev_p,
            "recall": ev_r,
            "event_f1": 2 * ev_p * ev_r / (ev_p + ev_r) if ev_p + ev_r else 0.0,
            "false_per_1k": 1000.0 * self.false_events / self.points if self.points else 0.0,
        }


def suite_metrics(labels: Sequence[BoolArray], flags: Sequence[BoolArray], delay: int = DELAY) -> dict[str, float]:
    """Pooled PA-F1, delay-``delay`` F1, event precision/recall/F1 and false events per 1,000 points."""
    c = Counts()
    for lab, flg in zip(labels, flags, strict=True):
        c.add(lab, flg, delay)
    return c.metrics()


# --------------------------------------------------------------------------- baseline


def rolling_zscore(values: FloatArray, window: int = 288, limit: float = 4.0) -> tuple[FloatArray, BoolArray]:
    """|z| of each point against the mean/std of the ``window`` points before it; flag |z| > limit.

    The ten-lines-of-pandas baseline, vectorised with prefix sums over time (NaN-aware: a window
    needs ``window // 2`` known values). Per series, (n_series, n_points) in, same shape out.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    known = np.isfinite(x)
    v = np.where(known, x, 0.0)
    # shift the data by each series' first value: prefix sums of squares stay accurate
    first = np.nan_to_num(x[np.arange(x.shape[0]), np.argmax(known, axis=1)])[:, None]
    v = np.where(known, v - first, 0.0)
    zero = np.zeros((x.shape[0], 1))
    c1 = np.concatenate([zero, np.cumsum(v, axis=1)], axis=1)
    c2 = np.concatenate([zero, np.cumsum(v * v, axis=1)], axis=1)
    cn = np.concatenate([zero, np.cumsum(known, axis=1, dtype=np.float64)], axis=1)
    t = x.shape[1]
    end = np.arange(t)  # window [t - window, t)
    start = np.maximum(end - window, 0)
    n = cn[:, end] - cn[:, start]
    s1 = c1[:, end] - c1[:, start]
    s2 = c2[:, end] - c2[:, start]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = (s2 - n * mean * mean) / (n - 1)
        z = np.abs(v - mean) / np.sqrt(np.maximum(var, 0.0))
    ok = known & (n >= max(2, window // 2)) & (var > 1e-12 * np.maximum(1.0, mean * mean))
    z = np.where(ok, z, 0.0)
    return z, z > limit


# --------------------------------------------------------------------------- corpora


@dataclass
class Corpus:
    """Labelled series of one corpus: values/labels as rows (NaN-padded to one width)."""

    name: str
    values: FloatArray
    labels: BoolArray
    lengths: list[int]
    timestamps: NDArray[np.datetime64]  # the longest series' axis
    nab_files: list[nab.NabFile] | None = None
    monitor_level: bool = False

    @property
    def points(self) -> int:
        return int(sum(self.lengths))


def stack(name: str, series: Sequence[tuple[FloatArray, BoolArray, NDArray[np.datetime64]]], **kw: Any) -> Corpus:
    width = max(len(v) for v, _, _ in series)
    values = np.full((len(series), width), np.nan)
    labels = np.zeros((len(series), width), dtype=bool)
    for i, (v, lab, _) in enumerate(series):
        values[i, : len(v)] = v
        labels[i, : len(v)] = lab
    longest = max(series, key=lambda s: len(s[0]))[2]
    return Corpus(name, values, labels, [len(v) for v, _, _ in series], longest, **kw)


def labelled_dir_corpus(folder: Path, name: str | None = None) -> Corpus:
    from metricloop.bench.detect import load_labelled_dir

    rows = load_labelled_dir(folder)
    return stack(name or folder.name, [(v, lab, ts) for _, v, lab, ts in rows])


def nab_corpus(root: Path) -> Corpus:
    files = nab.load_corpus(root)
    series = []
    for f in files:
        lab = np.zeros(f.n, dtype=bool)
        for a, b in f.windows:
            lab[a : b + 1] = True
        series.append((f.values, lab, f.timestamps))
    return stack("NAB", series, nab_files=files)


def business_corpus(seed: int, n_series: int = 200) -> Corpus:
    from metricloop.bench.detect import business_series

    values, labels, ts = business_series(n_series=n_series, seed=seed)
    return Corpus(f"business seed {seed}", values, labels, [values.shape[1]] * values.shape[0], ts,
                  monitor_level=True)


# --------------------------------------------------------------------------- running detectors


def suite_detectors(extra: Sequence[str] = ()) -> tuple[list[str], dict[str, str]]:
    """Every registered detector that runs without its own configuration, and the skipped ones."""
    names = [n for n in registry.available() if n not in NEEDS_CONFIG]
    return sorted(set(names) | set(extra)), {n: why for n, why in NEEDS_CONFIG.items() if n in registry.available()}


def run_detector(corpus: Corpus, detector: str) -> tuple[FloatArray, BoolArray, float]:
    """(scores, flags at the detector's warning level, seconds) over a corpus.

    NAB files run one by one with their probation period as warm-up (NAB's detector interface);
    other corpora run as one batch per corpus (rows padded with NaN at the end; detectors are causal).
    """
    from metricloop.bench.detect import grain_of

    t0 = time.perf_counter()
    if detector == ZSCORE:
        z, zf = rolling_zscore(corpus.values)
        return z, zf, time.perf_counter() - t0
    cls = registry.get(detector)
    scores = np.zeros(corpus.values.shape)
    flags = np.zeros(corpus.values.shape, dtype=bool)
    if corpus.nab_files is not None and detector == "default":
        # the NAB harness' own run of the default detector (warm-up min(warmup, probation), as scored in #3)
        from metricloop.bench.detect import default_params

        dp = default_params()
        per_file = nab.default_detector_scores(corpus.nab_files, dp.model_dump())
        for i, f in enumerate(corpus.nab_files):
            scores[i, : f.n] = per_file[f.name]
        flags = scores >= dp.warning
    elif corpus.nab_files is not None:
        has_warmup = "warmup" in cls.Params.model_fields
        for i, f in enumerate(corpus.nab_files):
            p = registry.parse_params(detector, {"warmup": nab.probation_length(f.n)} if has_warmup else None)
            det = cls().detect(SeriesBatch(values=f.values[None, :], timestamps=f.timestamps,
                                           grain=grain_of(f.timestamps)), p)
            scores[i, : f.n] = det.score[0]
            flags[i, : f.n] = det.flagged[0]
    else:
        det = registry.run(SeriesBatch(values=corpus.values, timestamps=corpus.timestamps,
                                       grain=grain_of(corpus.timestamps)), detector)
        scores, flags = np.asarray(det.score, dtype=np.float64), det.flagged
    return scores, flags, time.perf_counter() - t0


def nab_standard(corpus: Corpus, scores: FloatArray) -> float | None:
    if corpus.nab_files is None:
        return None
    per_file = {f.name: scores[i, : f.n] for i, f in enumerate(corpus.nab_files)}
    return nab.optimize(corpus.nab_files, per_file, "standard").normalized


def monitor_f1(corpus: Corpus, detector: str | None) -> dict[str, Any]:
    """Event F1 of a monitor (noise control, event merging) running ``detector`` (None: the monitor
    default, what a user gets without naming one)."""
    from metricloop.bench.detect import monitor_events_score

    dets = None if detector is None else [{"type": detector}]
    return monitor_events_score(dets, corpus.values, corpus.labels, corpus.timestamps)


def suite_report(
    corpora: Sequence[Corpus],
    detectors: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One row per corpus × detector (the rolling z-score baseline first, then the detectors)."""
    names, skipped = suite_detectors()
    chosen = [ZSCORE, *(detectors if detectors is not None else names)]
    rows: list[dict[str, Any]] = []
    for corpus in corpora:
        for det in chosen:
            if progress:
                progress(f"{corpus.name}: {det}")
            scores, flags, seconds = run_detector(corpus, det)
            labels = [corpus.labels[i, :n] for i, n in enumerate(corpus.lengths)]
            cut = [flags[i, :n] for i, n in enumerate(corpus.lengths)]
            m = suite_metrics(labels, cut)
            row: dict[str, Any] = {"corpus": corpus.name, "detector": det}
            row.update({k: round(v, 3) for k, v in m.items()})
            nab_std = nab_standard(corpus, scores)
            row["nab_standard"] = None if nab_std is None else round(nab_std, 2)
            row["monitor_f1"] = None
            if corpus.monitor_level and det in MONITOR_LEVEL:
                row["monitor_f1"] = monitor_f1(corpus, det)["f1"]
            row["points_per_s"] = round(corpus.points / seconds) if seconds > 0 else None
            rows.append(row)
        if corpus.monitor_level:
            if progress:
                progress(f"{corpus.name}: monitor default")
            mon = monitor_f1(corpus, None)
            rows.append({"corpus": corpus.name, "detector": "(monitor default)", "pa_f1": None, "delay7_f1": None,
                         "precision": mon["precision"], "recall": mon["recall"], "event_f1": None,
                         "false_per_1k": round(1000.0 * mon["false_events"] / corpus.points, 3),
                         "nab_standard": None, "monitor_f1": mon["f1"], "points_per_s": None})
    return {"rows": rows, "skipped": skipped, "delay": DELAY,
            "corpora": [{"name": c.name, "series": len(c.lengths), "points": c.points} for c in corpora]}


def shared_dataset(*parts: str) -> Path | None:
    """``../shared/datasets/<parts>`` beside the working directory or the repository, if present."""
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        cand = base.parent / "shared" / "datasets" / Path(*parts)
        if cand.is_dir():
            return cand
    return None


def default_corpora(
    nab_root: Path | None = None, data: Sequence[Path] = (), seeds: Sequence[int] = (1, 2)
) -> list[Corpus]:
    """NAB and Merlion synthetic (from ``../shared/datasets`` unless given), business seeds, ``data``."""
    out: list[Corpus] = []
    nab_root = nab_root or shared_dataset("anomaly", "nab")
    if nab_root is not None:
        out.append(nab_corpus(nab_root))
    merlion = shared_dataset("anomaly", "merlion-synthetic", "data")
    if merlion is not None:
        out.append(labelled_dir_corpus(merlion, "Merlion synthetic"))
    out.extend(business_corpus(seed) for seed in seeds)
    out.extend(labelled_dir_corpus(folder) for folder in data)
    return out


# --------------------------------------------------------------------------- speed


def speed_sizes(
    sizes: Sequence[int] = (1, 20, 10_000), points: int = 2_000, detector: str = "ensemble", seed: int = 7,
    repeat: int = 3,
) -> dict[str, Any]:
    """Points/s of a detector and of the vectorised rolling z-score on the same generated series.

    Per size: best of ``repeat`` runs (one for batches above a million points), wall clock and CPU
    time of this process (the per-core rate, less disturbed by other jobs on a shared machine).
    The detector is compiled/warmed once before timing (numba compiles on first use per process).
    """
    from metricloop.bench.detect import generate, grain_of

    rows: list[dict[str, Any]] = []
    for n in sizes:
        values, _, ts = generate(n, points, seed)
        grain = grain_of(ts)
        batch = SeriesBatch(values=values, timestamps=ts, grain=grain)
        registry.run(SeriesBatch(values=values[:1, :200], timestamps=ts[:200], grain=grain), detector)
        reps = repeat if values.size <= 1_000_000 else 1
        for name, fn in ((detector, lambda b=batch: registry.run(b, detector)),
                         (ZSCORE + " (numpy)", lambda v=values: rolling_zscore(v))):
            wall = cpu = float("inf")
            for _ in range(reps):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
            rows.append({"series": n, "points": values.size, "detector": name,
                         "points_per_s": round(values.size / wall) if wall > 0 else None,
                         "points_per_cpu_s": round(values.size / cpu) if cpu > 0 else None})
    return {"points_per_series": points, "seed": seed, "rows": rows}
