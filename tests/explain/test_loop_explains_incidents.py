"""The loop's passes keep each incident's explanation current as the incident grows (real DuckDB, real store)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from metricloop import loop
from metricloop.service import MetricLoop
from metricloop.store.workflow_models import Incident
from tests.reliability.project import drop_starts, write_project


def test_passes_re_explain_a_growing_incident_and_keep_its_history(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    _region, first = drop_starts()[0]  # five hours of 20 % sessions in one region
    ml = MetricLoop.open(root)
    try:
        windows = []
        for hours in (2, 3, 4, 5):
            loop.run_pass(ml, first + dt.timedelta(hours=hours, minutes=5), notify=False)
            with ml.store.session() as s:
                incidents = list(s.query(Incident).all())
                if incidents:
                    (inc,) = incidents
                    assert inc.explanation is not None
                    assert inc.explanation["kind"] in ("causes", "leading_slices", "none")
                    windows.append((inc.explanation["window"]["end"], len(inc.explanation["history"])))
        # the anomaly went on for five hours: each pass explained the incident up to its last hour ...
        assert [w[0] for w in windows] == [(first + dt.timedelta(hours=h)).isoformat() for h in (1, 2, 3, 4)]
        # ... and kept every earlier explanation
        assert [w[1] for w in windows] == [0, 1, 2, 3]
    finally:
        ml.close()
