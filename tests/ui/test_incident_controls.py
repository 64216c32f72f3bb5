"""What the incident page offers for handing over and de-duplicating: people of owners.yaml by
name, and the other incidents the user may see (same metric first). The clicks themselves are
driven in a real browser in test_browser.py."""

from __future__ import annotations

import datetime as dt

from metricloop.service import MetricLoop
from metricloop.ui.data import duplicate_candidates, people_options
from tests.workflow.conftest import T0, alert, clock, emu, ml, project, state_url

__all__ = ["clock", "emu", "ml", "project", "state_url"]
H = dt.timedelta(hours=1)


def test_people_are_offered_by_name_with_their_team(ml: MetricLoop) -> None:
    people = people_options(ml, "zh-CN")
    assert set(people) == set(ml.workflow.owners.people)
    for pid, text in people.items():
        assert text.startswith(ml.workflow.owners.people[pid].name) and pid not in text
    assert "·" in people["he.jing"]  # 何静 · <her team's name>


def test_duplicate_candidates_are_visible_others_same_metric_first(ml: MetricLoop) -> None:
    ml.workflow.process([alert("e1", "gmv", {"region": "华东"})], now=T0)
    # a day later: at the same time, gmv and orders of one region are one event (one incident)
    ml.workflow.process([alert("o1", "orders", {"region": "华东"}, start=T0 + 24 * H)], now=T0 + 24 * H)
    ml.workflow.process([alert("n1", "gmv", {"region": "华北"}, start=T0 + 48 * H)], now=T0 + 48 * H)
    ml.workflow.process([alert("e2", "gmv", {"region": "华东"}, start=T0 + 96 * H)], now=T0 + 96 * H)
    ml.access.create_user("root", role="admin")
    ml.access.create_user("east", role="owner", attributes={"region": ["华东"]})
    ml.access.add_policy("region", "region", "region")
    first = ml.workflow.incident(1)
    admin = duplicate_candidates(ml, ml.access.principal("root"), first, "zh-CN")
    assert list(admin) == ["INC-4", "INC-3", "INC-2"]  # gmv ones newest first, then orders
    assert admin["INC-2"].startswith("INC-2 · 订单数") and admin["INC-2"].endswith("已触发")
    assert list(duplicate_candidates(ml, ml.access.principal("east"), first, "en")) == ["INC-4", "INC-2"]
    ml.workflow.act("INC-4", "duplicate", actor="root", duplicate_of="INC-1")
    assert "INC-4" not in duplicate_candidates(ml, ml.access.principal("root"), first, "en")
