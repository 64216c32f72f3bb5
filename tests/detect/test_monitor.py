"""Monitor files: valid ones load, mistakes are named by file, line and field."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from metricloop.detect import Direction, MonitorSpec, parse_monitor_yaml
from metricloop.errors import ConfigError, DefinitionError

GOOD = textwrap.dedent("""\
    name: gmv_by_region
    metric: gmv
    by: [region, channel]
    top_n: 20
    min_volume: 1000
    grain: day
    schedule: "0 9 * * *"
    timezone: Asia/Shanghai
    delay: 2h
    detectors:
      - type: seasonal
        params: {warning: 3, critical: 5}
      - type: change_rate
        params: {compare: week, warning: 0.2, critical: 0.4}
    noise:
      min_rel_deviation: 0.05
      consecutive: 2
      cooldown: 3
      mute: [{daily: "00:00-06:00", reason: nightly batch}]
      holidays: ["2025-10-01"]
    labels: {team: growth}
    owner: alice
""")


def test_a_full_monitor_loads() -> None:
    spec = parse_monitor_yaml(GOOD, file="monitors/gmv.yaml")
    assert spec.by == ["region", "channel"]
    assert spec.delay == dt.timedelta(hours=2)
    assert [d.type for d in spec.detectors] == ["seasonal", "change_rate"]
    assert spec.noise.holidays == [dt.date(2025, 10, 1)]
    assert spec.effective_direction("higher_is_better") is Direction.DOWN
    assert spec.effective_direction("lower_is_better") is Direction.UP
    assert spec.effective_direction("neutral") is Direction.BOTH


def test_defaults_use_the_default_detector() -> None:
    spec = MonitorSpec(name="m", metric="orders")
    assert [d.type for d in spec.detectors] == ["default"]
    assert spec.enabled
    assert spec.combine == "any"


def test_unknown_key_is_reported_with_file_line_and_field() -> None:
    text = GOOD.replace("  cooldown: 3\n", "  cooldown: 3\n  cooldwon: 4\n")
    assert text != GOOD
    with pytest.raises(DefinitionError) as err:
        parse_monitor_yaml(text, file="monitors/gmv.yaml")
    issue = err.value.issues[0]
    assert issue.location.file == "monitors/gmv.yaml"
    assert issue.location.field == "noise.cooldwon"
    assert issue.location.line == text.splitlines().index("  cooldwon: 4") + 1
    assert "unknown key" in issue.message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("0 9 * * *", "every morning"), "schedule", "cron"),
        (("Asia/Shanghai", "Mars/Olympus"), "timezone", "IANA"),
        (("delay: 2h", "delay: soon"), "delay", "duration"),
        (("compare: week", "compare: fortnight"), "detectors.1", "compare"),
        (("type: seasonal", "type: crystal_ball"), "detectors.0", "unknown detector type"),
    ],
)
def test_invalid_values_name_the_field(change: tuple[str, str], field: str, words: str) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_monitor_yaml(GOOD.replace(*change))
    issue = err.value.issues[0]
    assert issue.location.field is not None
    assert issue.location.field.startswith(field)
    assert words in issue.message


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_monitor_yaml("name: [unclosed\nmetric: x\n", file="monitors/x.yaml")
    assert err.value.location is not None
    assert err.value.location.line is not None


def test_every_field_is_documented() -> None:
    """Field descriptions are shown in docs and the UI: none may be missing."""
    from metricloop.detect.monitor import DetectorSpec, MuteWindow, NoiseSpec, SeverityPolicy

    for model in (MonitorSpec, DetectorSpec, NoiseSpec, MuteWindow, SeverityPolicy):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
