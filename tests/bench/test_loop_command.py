"""`metricloop bench loop --small`: the bench company is built, replayed through the loop and
scored; the JSON carries the figures, the goals and every injected event with its truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metricloop.bench.loop_company import SMALL_KINDS, generate

pytestmark = pytest.mark.slow


def test_the_small_bench_runs_the_loop_and_scores_it(tmp_path: Path) -> None:
    from metricloop.cli.bench import load_benchmarks
    from metricloop.cli.main import app

    load_benchmarks()
    out = CliRunner().invoke(app, ["bench", "loop", "--small", "--months", "1", "--held-out-seed", "0",
                                   "--keep", str(tmp_path), "--format", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    run = report["runs"][0]
    assert run["seed"] == 1 and run["events"] == len(SMALL_KINDS) and not run["failed_monitors"]
    assert {e["id"] for e in run["per_event"]} == set(SMALL_KINDS)
    assert run["incidents"] == run["true_incidents"] + run["false_incidents"] > 0
    assert set(report["goals"]) >= {"recall", "false_per_month", "explained", "slice_top3", "owner_right",
                                    "incidents_per_event"}
    truth = json.loads((tmp_path / "seed-1" / "data" / "ground_truth.json").read_text(encoding="utf-8"))
    assert [t["id"] for t in truth["incidents"]] == [e["id"] for e in run["per_event"]]
    assert (tmp_path / "seed-1" / "owners.yaml").exists() and (tmp_path / "seed-1" / "monitors").is_dir()


def test_a_seed_moves_the_incidents_but_keeps_the_company() -> None:
    one, two = generate(seed=1, months=1, small=True), generate(seed=2, months=1, small=True)
    assert [t.id for t in sorted(one.incidents, key=lambda t: t.id)] == \
        [t.id for t in sorted(two.incidents, key=lambda t: t.id)]
    assert [(t.start, t.multipliers) for t in one.incidents] != [(t.start, t.multipliers) for t in two.incidents]
    assert one.table.schema.names == ["hour", "city", "platform", "cuisine", "sessions", "orders", "gmv"]
    again = generate(seed=1, months=1, small=True)
    assert again.table.equals(one.table)  # seeded: the same company twice
    for t in one.incidents:  # nothing injected on a public holiday, its neighbours or the quiet period
        assert t.start.date() not in one.holidays and not one.quiet[0] <= t.start < one.quiet[1]


def test_another_monitors_file_is_judged_on_the_same_company(tmp_path: Path) -> None:
    from metricloop.bench.loop_company import MONITORS_YAML, write_project

    company = generate(seed=1, months=1, small=True)
    mine = MONITORS_YAML + "\n  - {name: gmv_by_city_cuisine, metric: gmv, by: [city, cuisine], grain: hour}\n"
    write_project(company, tmp_path, monitors=mine)
    assert (tmp_path / "monitors" / "delivery.yaml").read_text(encoding="utf-8") == mine
    truth = json.loads((tmp_path / "data" / "ground_truth.json").read_text(encoding="utf-8"))
    assert truth["changes"] == [c.to_dict() for c in company.changes]  # benign steps, listed apart
