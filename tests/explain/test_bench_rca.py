"""The rca benchmark: protocol F1, the Squeeze reader on a real case, ratio-KPI cases end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from metricloop.bench import rca
from metricloop.explain import localize
from tests.explain.synth import ratio_case

B0 = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "rca" / "squeeze-B0"


def test_protocol_micro_f1_by_exact_element_match() -> None:
    e = rca.parse_elements
    cases = [
        (e("a=a1&b=b2;c=c3"), e("b=b2&a=a1")),  # order-free match + one false positive
        (e(""), e("d=d1")),                     # missed
        (e("a=a1"), e("a=a1&b=b1")),            # a parent of the truth scores nothing
    ]
    counts = [rca.score_case(pred, true) for pred, true in cases]
    assert counts == [rca.Counts(1, 1, 0), rca.Counts(0, 0, 1), rca.Counts(0, 1, 1)]
    assert rca.micro_f1(counts) == pytest.approx(2 * 1 / (2 * 1 + 2 + 2))


def test_parse_elements_rejects_a_malformed_set() -> None:
    with pytest.raises(rca.IngestError, match="attr=value"):
        rca.parse_elements("a=a1&b")


@pytest.mark.skipif(not B0.is_dir(), reason="Squeeze B0 data not present")
def test_reader_on_a_real_squeeze_case() -> None:
    setting = B0 / "B_cuboid_layer_1_n_ele_1"
    path = setting / "1450653900.csv.xz"
    frame = rca.read_case(path)
    assert {"actual", "expected", "a", "b", "c", "d"} <= set(frame.columns)
    assert len(frame) == 21600
    assert frame["actual"].dtype.kind == "f"
    truth = rca.read_truth(setting)
    assert truth[rca.case_id(path)] == [frozenset({("d", "d8")})]
    found = localize(frame)
    assert [c.element.as_set() for c in found.causes] == truth["1450653900"]


def write_ratio_setting(root: Path, name: str, seeds: list[int], layer: int) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    info = []
    for seed in seeds:
        frame, causes = ratio_case(seed, layer=layer, count=2)
        frame.rename(columns={"actual_num": "real_num", "expected_num": "predict_num",
                              "actual_den": "real_den", "expected_den": "predict_den"}).to_csv(
            folder / f"{seed}.csv", index=False)
        info.append({"timestamp": seed,
                     "set": ";".join("&".join(f"{k}={v}" for k, v in sorted(el)) for el in causes)})
    pd.DataFrame(info).to_csv(folder / "injection_info.csv", index=False)


def test_ratio_kpi_cases_end_to_end(tmp_path: Path) -> None:
    write_ratio_setting(tmp_path, "R_cuboid_layer_1_n_ele_2", [11, 12, 13], layer=1)
    write_ratio_setting(tmp_path, "R_cuboid_layer_2_n_ele_2", [21, 22, 23], layer=2)
    results = rca.run(tmp_path, ["ours", "adtributor", "riskloc"])
    ours = {r.setting: r for r in results if r.algorithm == "ours"}
    assert ours["overall"].cases == 6
    assert ours["overall"].f1 == 1.0
    assert all(len(r.seconds) == r.cases for r in results)
    reference = next(r for r in results if r.algorithm == "riskloc" and r.setting == "overall")
    assert reference.unsupported == 0  # the RiskLoc reference is adapted to rates: scored, not skipped
    assert reference.f1 is not None and reference.f1 > 0


def test_generated_ratio_cases_are_scored_for_every_mode(tmp_path: Path) -> None:
    rca.generate_ratio_cases(tmp_path, cases=2, layers=(1,), n_elements=(1,))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["R_both_layer_1_n_ele_1", "R_den_layer_1_n_ele_1", "R_num_layer_1_n_ele_1"]
    results = rca.run(tmp_path, ["ours"])
    overall = next(r for r in results if r.setting == "overall")
    assert overall.cases == 6 and overall.f1 is not None and overall.f1 >= 0.8


def test_cli_json_output(tmp_path: Path) -> None:
    from metricloop.cli.bench import load_benchmarks
    from metricloop.cli.main import app

    load_benchmarks()
    write_ratio_setting(tmp_path, "R_cuboid_layer_2_n_ele_2", [31, 32], layer=2)
    out = CliRunner().invoke(app, ["bench", "rca", "--data", str(tmp_path), "--format", "json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    rows = {row["setting"]: row for row in payload["settings"]}
    assert rows["overall"]["ours_f1"] == 1.0
    assert "adtributor_f1" in rows["overall"]
    assert "riskloc_published_f1" in rows["overall"]


GROUND_TRUTH = {"incidents": [
    {"id": "INC-pay", "start": "2026-05-13T19:00:00", "end": "2026-05-13T23:00:00",
     "metrics": ["payment_success_rate", "orders"], "slices": [{"province": "浙江", "channel": "app"}],
     "measured_on": {"payment_success_rate": {"province": "浙江", "channel": "app"},
                     "orders": {"province": "浙江"}}},
    {"id": "INC-ship", "start": "2026-08-12T00:00:00", "end": "2026-08-15T00:00:00",
     "metrics": ["on_time_delivery_rate"], "slices": [{"region": "华南", "carrier": "圆通"}]},
]}


def test_demo_cases_take_the_slice_each_metric_can_show() -> None:
    main = rca.demo_cases(GROUND_TRUTH)
    assert [(c.incident, c.metric, c.truth) for c in main] == [
        ("INC-pay", "payment_success_rate", {"province": "浙江", "channel": "app"}),
        ("INC-ship", "on_time_delivery_rate", {"region": "华南", "carrier": "圆通"}),  # no measured_on: the slice
    ]
    every = rca.demo_cases(GROUND_TRUTH, metrics="all")
    assert [(c.metric, c.main, c.truth) for c in every if c.incident == "INC-pay"] == [
        ("payment_success_rate", True, {"province": "浙江", "channel": "app"}),
        ("orders", False, {"province": "浙江"}),
    ]
    assert main[0].end - main[0].start == pd.Timedelta(hours=4)
    with pytest.raises(rca.UnsupportedError):
        rca.demo_cases(GROUND_TRUTH, metrics="some")


def test_a_province_implies_its_region() -> None:
    assert rca.normalise_element({"region": "华东", "province": "浙江", "channel": "app"}) == frozenset(
        {("province", "浙江"), ("channel", "app")})
    assert rca.normalise_element({"region": "华东", "channel": "app"}) == frozenset(
        {("region", "华东"), ("channel", "app")})


def test_cli_needs_data_or_demo() -> None:
    from metricloop.cli.bench import load_benchmarks
    from metricloop.cli.main import app

    load_benchmarks()
    out = CliRunner().invoke(app, ["bench", "rca"])
    assert out.exit_code != 0
