"""The web pages show times by the one timezone rule: the project's wall clock with its offset."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from metricloop.service import MetricLoop
from metricloop.ui.data import local_time
from tests.conftest import write_tiny_project

UTC = dt.UTC


def test_stored_moments_naive_wall_clock_and_iso_text_all_read_with_the_offset(tiny: MetricLoop) -> None:
    assert local_time(tiny, dt.datetime(2026, 9, 27, 0, 10, 37, tzinfo=UTC)) == "2026-09-27 08:10 +08:00"
    assert local_time(tiny, dt.datetime(2026, 9, 27, 8, 10)) == "2026-09-27 08:10 +08:00"  # warehouse wall clock
    assert local_time(tiny, "2026-09-27T00:10:00+00:00") == "2026-09-27 08:10 +08:00"
    assert local_time(tiny, dt.datetime(2026, 9, 27, 0, 10, tzinfo=UTC), with_date=False) == "08:10 +08:00"
    assert local_time(tiny, None) == "–"


@pytest.fixture
def new_york(tmp_path: Path) -> MetricLoop:
    root = write_tiny_project(tmp_path / "ny")
    (root / "metricloop.yaml").write_text("name: ny\ntimezone: America/New_York\n", encoding="utf-8")
    m = MetricLoop.open(root)
    yield m
    m.close()


def test_the_offset_follows_daylight_saving(new_york: MetricLoop) -> None:
    assert local_time(new_york, dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == "2026-07-01 08:00 -04:00"
    assert local_time(new_york, dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)) == "2026-12-01 07:00 -05:00"


def test_home_freshness_and_admin_last_login_show_the_offset(tiny: MetricLoop, tmp_path: Path) -> None:
    from metricloop.ui.pages.admin import _row
    from metricloop.ui.pages.home import _freshness

    data = tiny.project.root / "fresh.csv"
    data.write_text("id,t\n1,2026-09-27 08:10:00\n", encoding="utf-8")
    tiny.ingest(str(data), "fresh", schema={"id": "BIGINT", "t": "TIMESTAMP"}, time_column="t")
    ctx = SimpleNamespace(ml=tiny, t=lambda key, **kw: key)
    assert dict(_freshness(ctx))["fresh"] == "2026-09-27 08:10 +08:00"  # type: ignore[arg-type]

    tiny.access.create_user("li.na", password="correct horse battery 9", role="viewer")
    tiny.access.authenticate("li.na", "correct horse battery 9")
    user = tiny.access.user("li.na")
    assert user.last_login_at is not None
    row = _row(ctx, user)  # type: ignore[arg-type]
    assert row["last_login"] == local_time(tiny, user.last_login_at)
    assert row["last_login"].endswith(" +08:00")
