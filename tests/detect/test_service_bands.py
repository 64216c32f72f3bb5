"""A rate's normal range stays within 0–100 %: the stored band and the reason people read agree.

A success rate near 99 % has a seasonal band of ``expected ± 4σ`` that reaches past 100 %; the
event's band and its reason text (en and zh) must quote the clamped range, the same one the UI,
the API and the workflow show.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from metricloop.service import MetricLoop

START = dt.datetime(2026, 1, 5)  # a Monday
LAST = dt.datetime(2026, 2, 13, 23)
DROP = (dt.datetime(2026, 2, 13, 10), dt.datetime(2026, 2, 13, 13))

MODELS = textwrap.dedent("""\
    semantic_models:
      - name: payments
        table: payments
        defaults: {agg_time_dimension: hour}
        dimensions:
          - {name: hour, type: time, type_params: {time_granularity: hour}}
        measures:
          - {name: attempt_count, agg: sum, expr: attempts}
          - {name: success_count, agg: sum, expr: successes}
    metrics:
      - {name: attempts, measure: attempt_count}
      - {name: successes, measure: success_count}
      - {name: success_rate, type: ratio, numerator: successes, denominator: attempts, unit: percent}
    """)

MONITOR = textwrap.dedent("""\
    name: success_rate_hourly
    metric: success_rate
    grain: hour
    detectors:
      - type: seasonal
        params: {warning: 4, critical: 6}
    """)


def _project(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "monitors").mkdir()
    (root / "metricloop.yaml").write_text(
        "name: bands\ntimezone: Asia/Shanghai\ntables:\n  payments: {time_column: hour}\n", encoding="utf-8")
    (root / "models" / "payments.yaml").write_text(MODELS, encoding="utf-8")
    (root / "monitors" / "rate.yaml").write_text(MONITOR, encoding="utf-8")
    return root


def _payments() -> pd.DataFrame:
    """300 attempts an hour at a 99.3 % success rate (binomial noise), 50 % during ``DROP``."""
    rng = np.random.default_rng(11)
    hours = pd.date_range(START, LAST, freq="h")
    p = np.where((hours >= DROP[0]) & (hours <= DROP[1]), 0.5, 0.993)
    return pd.DataFrame({"hour": hours, "attempts": 300, "successes": rng.binomial(300, p)})


def _band(text: str, pattern: str) -> tuple[float, float]:
    m = re.search(pattern, text)
    assert m, text
    lo, hi = (float(x.replace(",", "")) for x in m.groups())
    return lo, hi


def test_a_rate_reason_quotes_a_normal_range_within_0_and_100_percent(tmp_path: Path) -> None:
    ml = MetricLoop.open(_project(tmp_path / "p"))
    try:
        csv = tmp_path / "payments.csv"
        _payments().to_csv(csv, index=False)
        ml.ingest(str(csv), "payments", mode="replace")  # type: ignore[arg-type]
        report = ml.detection.run(at=dt.datetime(2026, 2, 14, 1))
    finally:
        ml.close()
    [event] = [e for e in report.events if e.active]
    assert event.start == DROP[0] and event.actual is not None and event.actual < 0.7
    # 99.3 % ± 4σ reaches past 100 %: the band is cut at 100 %, not shown as 100.4 %
    assert event.upper == 1.0 and event.lower is not None and 0.9 < event.lower < 1.0
    assert event.reason is not None
    quoted = ((event.reason.en, r"normal range (\S+) to (\S+)"), (event.reason.zh, r"正常范围 (\S+) 至 (\S+)"))
    for text, pattern in quoted:
        lo, hi = _band(text, pattern)
        assert hi == 1.0 and abs(lo - event.lower) < 1e-3, text
