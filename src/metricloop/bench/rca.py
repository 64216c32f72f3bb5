"""``metricloop bench rca``: root-cause localization on the Squeeze layout, scored by exact element match.

Layout (Squeeze, Li et al. ISSRE 2019): one folder per setting, one ``<timestamp>.csv[.xz]`` per
case with a row per leaf — ``real,predict,<attribute columns>`` for an additive KPI, or
``real_num,predict_num,real_den,predict_den,<attributes>`` for a ratio KPI — and
``injection_info.csv`` whose ``set`` column holds the true root causes
(``a=a1&b=b2;c=c3``) for the case named in its ``timestamp`` column.

Protocol (Squeeze, PSqueeze, RiskLoc): an element is an order-free set of ``attr=value`` pairs;
per case TP = predicted elements equal to a true element, FP = predicted − TP, FN = true − TP;
F1 is micro-averaged over a setting's cases: 2ΣTP / (2ΣTP + ΣFP + ΣFN). Time is wall-clock
seconds per case of the localization itself (``mean_s``; the file is read and coded before that
clock starts), and the whole case (``case_s``: read the file + code it with ``leaf_table`` +
localize). The truth is read only after every prediction of the setting is made.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from metricloop.errors import IngestError, NotFoundError, UnsupportedError
from metricloop.explain.frame import leaf_table
from metricloop.explain.localization import LOCALIZERS, LocalizeConfig, localize_table

if TYPE_CHECKING:
    from metricloop.service import MetricLoop

ElementSet = frozenset[tuple[str, str]]

RENAME = {
    "real": "actual",
    "predict": "expected",
    "real_num": "actual_num",
    "predict_num": "expected_num",
    "real_den": "actual_den",
    "predict_den": "expected_den",
}

# RiskLoc's published F1 per B0 setting, keyed by (cuboid layer, number of elements), from
# M. Kalander, "RiskLoc: Localization of Multi-dimensional Root Causes by Weighted Risk",
# arXiv:2205.10004 (2022). Left as None: the paper's result table could not be retrieved where
# this was written, and figures are never typed from memory. Fill them from the paper. Until then
# the ``riskloc`` algorithm (our re-implementation, same cases, same clock) is the reference.
RISKLOC_B0_SOURCE = "Kalander 2022, arXiv:2205.10004 (RiskLoc), B0 results"
RISKLOC_B0_F1: dict[tuple[int, int], float | None] = {
    (layer, n): None for layer in (1, 2, 3) for n in (1, 2, 3)
}


def parse_elements(text: str) -> list[ElementSet]:
    """``"a=a1&b=b2;c=c3"`` → ``[{(a,a1),(b,b2)}, {(c,c3)}]`` (order-free elements)."""
    out: list[ElementSet] = []
    for chunk in str(text).split(";"):
        chunk = chunk.strip()
        if not chunk:
            continue
        pairs = []
        for pair in chunk.split("&"):
            key, sep, value = pair.strip().partition("=")
            if not sep:
                raise IngestError(
                    f"root-cause element {chunk!r}: expected attr=value pairs joined by '&', got {pair!r}",
                    zh=f"根因元素 {chunk!r}：应为以 '&' 连接的 attr=value，实际为 {pair!r}",
                )
            pairs.append((key.strip(), value.strip()))
        out.append(frozenset(pairs))
    return out


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


def score_case(predicted: Iterable[ElementSet], truth: Iterable[ElementSet]) -> Counts:
    """Exact element match: a parent or a child of a true element scores nothing."""
    pred = set(predicted)
    true = set(truth)
    tp = len(pred & true)
    return Counts(tp=tp, fp=len(pred) - tp, fn=len(true) - tp)


def micro_f1(counts: Iterable[Counts]) -> float:
    total = Counts()
    for c in counts:
        total = total + c
    return total.f1


def read_case(path: Path) -> pd.DataFrame:
    """One case file with the columns renamed to the explain input (actual/expected...)."""
    try:
        frame = pd.read_csv(path, dtype=str)
    except (OSError, ValueError, EOFError) as exc:
        raise IngestError(f"{path}: cannot read case file ({exc})",
                          zh=f"{path}：无法读取案例文件（{exc}）") from exc
    frame = frame.rename(columns=RENAME)
    for col in set(RENAME.values()) & set(frame.columns):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def read_truth(setting_dir: Path) -> dict[str, list[ElementSet]]:
    """``timestamp`` → true elements, from ``injection_info.csv``."""
    path = setting_dir / "injection_info.csv"
    if not path.exists():
        raise NotFoundError(f"{path} not found: every setting folder needs its injection_info.csv",
                            zh=f"未找到 {path}：每个场景目录都需要 injection_info.csv")
    info = pd.read_csv(path, dtype=str)
    for col in ("timestamp", "set"):
        if col not in info.columns:
            raise IngestError(f"{path}: column {col!r} missing; expected timestamp and set",
                              zh=f"{path}：缺少列 {col!r}；需要 timestamp 和 set")
    return {str(ts): parse_elements(s) for ts, s in zip(info["timestamp"], info["set"], strict=True)}


def case_files(setting_dir: Path) -> list[Path]:
    files = [p for p in setting_dir.iterdir() if p.is_file() and p.name != "injection_info.csv"
             and (p.name.endswith(".csv") or p.name.endswith(".csv.xz"))]
    return sorted(files, key=lambda p: p.name)


def case_id(path: Path) -> str:
    name = path.name
    for suffix in (".xz", ".csv"):
        name = name.removesuffix(suffix)
    return name


def settings(data_dir: Path) -> list[Path]:
    """Setting folders (those with an injection_info.csv); ``data_dir`` itself may be one."""
    if not data_dir.is_dir():
        raise NotFoundError(f"benchmark data folder {data_dir} not found",
                            zh=f"未找到基准数据目录 {data_dir}")
    if (data_dir / "injection_info.csv").exists():
        return [data_dir]
    found = sorted(p for p in data_dir.iterdir() if p.is_dir() and (p / "injection_info.csv").exists())
    if not found:
        raise NotFoundError(f"{data_dir}: no setting folder with an injection_info.csv",
                            zh=f"{data_dir}：没有包含 injection_info.csv 的场景目录")
    return found


def parse_setting(name: str) -> tuple[int, int] | None:
    """``B_cuboid_layer_2_n_ele_3`` → (2, 3)."""
    parts = name.split("_")
    try:
        return int(parts[parts.index("layer") + 1]), int(parts[parts.index("ele") + 1])
    except (ValueError, IndexError):
        return None


@dataclass
class SettingResult:
    setting: str
    algorithm: str
    cases: int = 0
    counts: Counts = field(default_factory=Counts)
    seconds: list[float] = field(default_factory=list)
    unsupported: int = 0
    """Cases the algorithm cannot handle (e.g. the RiskLoc reference on a ratio KPI)."""
    prepare: list[float] = field(default_factory=list)
    """Seconds per case to read the file and code it (``leaf_table``), shared by the algorithms."""

    @property
    def case_seconds(self) -> float | None:
        """Mean whole-case time: read + ``leaf_table`` + localize."""
        if not self.seconds:
            return None
        return statistics.fmean(self.seconds) + (statistics.fmean(self.prepare) if self.prepare else 0.0)

    @property
    def f1(self) -> float | None:
        return None if self.unsupported else self.counts.f1

    def row(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "algorithm": self.algorithm,
            "cases": self.cases,
            "f1": None if self.f1 is None else round(self.f1, 4),
            "unsupported": self.unsupported,
            "precision": round(self.counts.precision, 4),
            "recall": round(self.counts.recall, 4),
            "tp": self.counts.tp,
            "fp": self.counts.fp,
            "fn": self.counts.fn,
            "mean_s": round(statistics.fmean(self.seconds), 4) if self.seconds else None,
            "median_s": round(statistics.median(self.seconds), 4) if self.seconds else None,
            "case_s": None if self.case_seconds is None else round(self.case_seconds, 4),
        }


def _predictions(
    setting_dir: Path, algorithms: Sequence[str], config: LocalizeConfig, limit: int | None
) -> Iterator[tuple[str, str, list[ElementSet] | None, float, float]]:
    """(case, algorithm, predicted elements or None if unsupported, seconds, read+code seconds).

    Never reads the truth.
    """
    for path in case_files(setting_dir)[:limit]:
        began = time.perf_counter()
        table = leaf_table(read_case(path))
        prepare = time.perf_counter() - began
        for algo in algorithms:
            start = time.perf_counter()
            try:
                result = localize_table(table, algorithm=algo, config=config)
            except UnsupportedError:
                yield case_id(path), algo, None, 0.0, prepare
                continue
            elapsed = time.perf_counter() - start
            yield case_id(path), algo, [c.element.as_set() for c in result.causes], elapsed, prepare


def run(
    data_dir: Path,
    algorithms: Sequence[str] = ("ours",),
    *,
    config: LocalizeConfig | None = None,
    limit: int | None = None,
) -> list[SettingResult]:
    """Run the algorithms on every setting; per-setting results plus an ``overall`` row each."""
    cfg = config or LocalizeConfig()
    unknown = [a for a in algorithms if a not in LOCALIZERS]
    if unknown:
        raise NotFoundError(f"unknown algorithm(s) {unknown}; expected {sorted(LOCALIZERS)}",
                            zh=f"未知算法 {unknown}；可选 {sorted(LOCALIZERS)}")
    results: list[SettingResult] = []
    overall = {a: SettingResult("overall", a) for a in algorithms}
    for setting_dir in settings(data_dir):
        preds = list(_predictions(setting_dir, algorithms, cfg, limit))
        truth = read_truth(setting_dir)  # read only after every prediction of the setting is made
        per = {a: SettingResult(setting_dir.name, a) for a in algorithms}
        for case, algo, predicted, seconds, prepare in preds:
            if case not in truth:
                raise IngestError(f"{setting_dir}/injection_info.csv has no row for case {case}",
                                  zh=f"{setting_dir}/injection_info.csv 中没有案例 {case}")
            for r in (per[algo], overall[algo]):
                r.cases += 1
                if predicted is None:
                    r.unsupported += 1
                    continue
                r.counts = r.counts + score_case(predicted, truth[case])
                r.seconds.append(seconds)
                r.prepare.append(prepare)
        results.extend(per.values())
    results.extend(overall.values())
    return results


def table_rows(results: Sequence[SettingResult]) -> list[dict[str, Any]]:
    """One row per setting with each algorithm's F1 and timing side by side, plus RiskLoc's."""
    algos = list(dict.fromkeys(r.algorithm for r in results))
    by_setting: dict[str, dict[str, Any]] = {}
    for r in results:
        row = by_setting.setdefault(r.setting, {"setting": r.setting, "cases": r.cases})
        row[f"{r.algorithm}_f1"] = None if r.f1 is None else round(r.f1, 4)
        row[f"{r.algorithm}_mean_s"] = round(statistics.fmean(r.seconds), 4) if r.seconds else None
        row[f"{r.algorithm}_median_s"] = round(statistics.median(r.seconds), 4) if r.seconds else None
        row[f"{r.algorithm}_case_s"] = None if r.case_seconds is None else round(r.case_seconds, 4)
    for setting, row in by_setting.items():
        key = parse_setting(setting)
        row["riskloc_published_f1"] = RISKLOC_B0_F1.get(key) if key else None
    cols = ["setting", "cases"] + [f"{a}_{m}" for a in algos for m in ("f1", "mean_s", "median_s", "case_s")]
    cols.append("riskloc_published_f1")
    return [{c: row.get(c) for c in cols} for row in by_setting.values()]


# ---------------------------------------------------------------------------------------------
# the demo company: do the injected incidents' causes come out on top?

DEMO_HIERARCHY: dict[str, str] = {"province": "region"}
"""Child → parent dimensions of the demo company: a province lies in exactly one region."""


@dataclass(frozen=True)
class DemoCase:
    """One injected incident seen through one of its metrics, with the slice that metric can show."""

    incident: str
    metric: str
    main: bool
    start: dt.datetime
    end: dt.datetime
    truth: dict[str, str]


def demo_cases(ground_truth: Mapping[str, Any], *, metrics: str = "main") -> list[DemoCase]:
    """Cases from a demo ``ground_truth.json`` (parsed): the main (first-listed) metric, or ``all``.

    The true slice is the incident's ``measured_on`` entry for that metric: the part of the
    incident's slice the metric's table can be filtered by (orders have no carrier, so a
    logistics incident shows in orders as its region only).
    """
    if metrics not in ("main", "all"):
        raise UnsupportedError(f"metrics={metrics!r}: expected 'main' or 'all'",
                               zh=f"metrics={metrics!r}：应为 'main' 或 'all'")
    out: list[DemoCase] = []
    for inc in ground_truth.get("incidents", []):
        names = list(inc["metrics"])
        for k, name in enumerate(names if metrics == "all" else names[:1]):
            truth = inc.get("measured_on", {}).get(name) or (inc.get("slices") or [{}])[0]
            out.append(DemoCase(inc["id"], name, k == 0, dt.datetime.fromisoformat(inc["start"]),
                                dt.datetime.fromisoformat(inc["end"]), {str(a): str(b) for a, b in truth.items()}))
    return out


def normalise_element(element: Mapping[str, str], hierarchy: Mapping[str, str] = DEMO_HIERARCHY) -> ElementSet:
    """Drop a parent dimension when its child is in the element: ``region=华东&province=浙江`` = ``province=浙江``."""
    pairs = {str(k): str(v) for k, v in element.items()}
    for child, parent in hierarchy.items():
        if child in pairs:
            pairs.pop(parent, None)
    return frozenset(pairs.items())


@dataclass
class DemoResult:
    case: DemoCase
    found: list[str]
    rank: int | None
    """1-based position of the true slice among the reported causes (None: not reported)."""
    searched: list[str] | None
    seconds: float

    def row(self) -> dict[str, Any]:
        return {
            "incident": self.case.incident,
            "metric": self.case.metric,
            "main": self.case.main,
            "truth": "&".join(f"{k}={v}" for k, v in self.case.truth.items()),
            "rank": self.rank,
            "top1": self.rank == 1,
            "top3": self.rank is not None and self.rank <= 3,
            "found": "; ".join(self.found[:3]),
            "searched": ",".join(self.searched) if self.searched else "(all)",
            "seconds": round(self.seconds, 3),
        }


@dataclass
class DemoReport:
    results: list[DemoResult]

    def hit_rate(self, k: int) -> float | None:
        if not self.results:
            return None
        return sum(1 for r in self.results if r.rank is not None and r.rank <= k) / len(self.results)

    @property
    def top1(self) -> float | None:
        return self.hit_rate(1)

    @property
    def top3(self) -> float | None:
        return self.hit_rate(3)

    def to_dict(self) -> dict[str, Any]:
        return {"cases": len(self.results), "top1": self.top1, "top3": self.top3,
                "per_case": [r.row() for r in self.results]}


def evaluate_demo(
    ml: MetricLoop,
    ground_truth: Mapping[str, Any],
    *,
    metrics: str = "main",
    vs: str = "last_week",
    hierarchy: Mapping[str, str] = DEMO_HIERARCHY,
) -> DemoReport:
    """Explain every case's metric over the incident window vs the same window last week.

    One configuration for every case (the service's defaults: all categorical dimensions, the
    ``ours`` localizer); nothing is stored. The causes are taken in the order the service reports
    them (by contribution), with the hierarchy normalised on both sides.
    """
    results: list[DemoResult] = []
    for case in demo_cases(ground_truth, metrics=metrics):
        began = time.perf_counter()
        r = ml.explain.explain(case.metric, start=case.start, end=case.end, vs=vs,  # type: ignore[arg-type]
                               store=False)
        seconds = time.perf_counter() - began
        causes = list((r.localization or {}).get("causes", []))
        truth = normalise_element(case.truth, hierarchy)
        elements = [normalise_element(c.get("slice", {}), hierarchy) for c in causes]
        rank = elements.index(truth) + 1 if truth in elements else None
        searched = (r.localization or {}).get("searched")
        results.append(DemoResult(case, [str(c.get("element")) for c in causes], rank, searched, seconds))
    return DemoReport(results)


# ---------------------------------------------------------------------------------------------
# ratio (derived) cases: a rate KPI whose root causes move its numerator, its denominator or both

RATIO_MODES = ("num", "den", "both")
"""What the anomaly moves in its slice: the numerator only (successes fall, requests steady), the
denominator only (requests surge, successes capped), or both by different factors."""


def generate_ratio_cases(
    out_dir: Path,
    *,
    seed: int = 13,
    cases: int = 10,
    layers: Sequence[int] = (1, 2, 3),
    n_elements: Sequence[int] = (1, 2, 3),
    dims: Mapping[str, int] | None = None,
) -> list[Path]:
    """Write seeded ratio cases in the Squeeze layout (``real_num,predict_num,real_den,predict_den``).

    As in PSqueeze's derived datasets, anomalies are injected into the fundamental measures and the
    derived one (success rate = successes / requests) is localized. Per leaf: requests ~ lognormal,
    a success rate in [0.6, 0.99]; the observed period has Poisson requests and binomial successes
    (the noise of real counts); the forecast is the expected counts. Each root-cause element
    (``layer`` dimensions fixed, disjoint, ≤ 40 % of the leaves) moves, by mode: the numerator by
    −15…−50 %; the denominator by +30…+100 % with the numerator unchanged; or both (requests
    −20…−50 %, successes by a further −15…−40 %). One folder per ``R_<mode>_layer_<L>_n_ele_<K>``.
    """
    import numpy as np

    shape = dict(dims or {"a": 8, "b": 10, "c": 6, "d": 5})
    names = list(shape)
    grids = np.meshgrid(*[np.arange(shape[n]) for n in names], indexing="ij")
    codes = np.stack([g.ravel() for g in grids], axis=1)
    labels = {n: np.array([f"{n}{k + 1}" for k in range(shape[n])]) for n in names}
    written: list[Path] = []
    rng = np.random.default_rng(seed)
    for mode in RATIO_MODES:
        for layer in layers:
            for k in n_elements:
                setting = out_dir / f"R_{mode}_layer_{layer}_n_ele_{k}"
                setting.mkdir(parents=True, exist_ok=True)
                info = []
                for case in range(cases):
                    size = len(codes)
                    den = np.round(rng.lognormal(5.0, 1.2, size)) + 1
                    rate = rng.uniform(0.6, 0.99, size)
                    den_factor = np.ones(size)
                    rate_factor = np.ones(size)
                    covered = np.zeros(size, dtype=bool)
                    elements: list[str] = []
                    attempts = 0
                    while len(elements) < k:
                        attempts += 1
                        if attempts % 200 == 0:  # an early pick left no room: start the case over
                            den_factor[:], rate_factor[:], covered[:] = 1.0, 1.0, False
                            elements = []
                        ds = sorted(rng.choice(len(names), size=layer, replace=False).tolist())
                        row = codes[int(rng.integers(size))]
                        m = np.all(codes[:, ds] == row[ds], axis=1)
                        if (m & covered).any() or (m | covered).mean() > 0.4:
                            continue
                        covered |= m
                        elements.append("&".join(f"{names[j]}={labels[names[j]][row[j]]}" for j in ds))
                        if mode == "num":
                            rate_factor[m] = 1 - rng.uniform(0.15, 0.5)
                        elif mode == "den":
                            f = 1 + rng.uniform(0.3, 1.0)
                            den_factor[m], rate_factor[m] = f, 1 / f
                        else:
                            den_factor[m] = 1 - rng.uniform(0.2, 0.5)
                            rate_factor[m] = 1 - rng.uniform(0.15, 0.4)
                    real_den = rng.poisson(den * den_factor).astype(float)
                    real_num = rng.binomial(real_den.astype(np.int64), np.clip(rate * rate_factor, 0, 1)).astype(float)
                    frame = pd.DataFrame({n: labels[n][codes[:, j]] for j, n in enumerate(names)})
                    frame["real_num"], frame["predict_num"] = real_num, den * rate
                    frame["real_den"], frame["predict_den"] = real_den, den
                    stamp = f"{case:04d}"
                    path = setting / f"{stamp}.csv"
                    frame.to_csv(path, index=False)
                    written.append(path)
                    info.append({"timestamp": stamp, "set": ";".join(elements)})
                pd.DataFrame(info).to_csv(setting / "injection_info.csv", index=False)
    return written
