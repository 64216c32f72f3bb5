"""A demo-company project (models, owners.yaml, channels.yaml) whose channels point at a loopback
robot emulator, with the state store on SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from metricloop.notify.emulator import RobotEmulator
from metricloop.scaffold import DEMO_TEMPLATE
from metricloop.service import MetricLoop
from metricloop.workflow.demo import emulator_env
from metricloop.workflow.grouping import AlertInput

T0 = dt.datetime(2026, 4, 14, 9, tzinfo=dt.UTC)
ACTION_SECRET = "test-action-secret-0123456789abcdef-0123456789"


class Clock:
    """A settable clock shared by the emulator and the notifier (epoch seconds)."""

    def __init__(self, t: dt.datetime) -> None:
        self.t = t.timestamp()

    def __call__(self) -> float:
        return self.t

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.t, tz=dt.UTC)

    def advance(self, seconds: float) -> dt.datetime:
        self.t += seconds
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def emu(clock: Clock) -> Iterator[RobotEmulator]:
    with RobotEmulator(clock=clock, seed=3) as e:
        yield e


@pytest.fixture
def project(tmp_path: Path, state_url: str, emu: RobotEmulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(DEMO_TEMPLATE, root)
    for k, v in emulator_env(emu).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("METRICLOOP_STATE_URL", state_url)
    monkeypatch.setenv("METRICLOOP_ACTION_SECRET", ACTION_SECRET)
    monkeypatch.setenv("METRICLOOP_LOCALE", "zh-CN")
    return root


@pytest.fixture
def ml(project: Path) -> Iterator[MetricLoop]:
    m = MetricLoop.open(project)
    yield m
    m.close()


def alert(fp: str, metric: str = "gmv", slice_: dict[str, str] | None = None, *, start: dt.datetime = T0,
          hours: int = 2, severity: str = "critical", actual: float = 70.0, expected: float = 100.0,
          causes: list[str] | None = None) -> AlertInput:
    return AlertInput(
        fingerprint=fp, monitor=f"{metric}_hourly", metric=metric, slice=slice_ or {}, start=start,
        end=start + dt.timedelta(hours=hours), severity=severity, actual=actual, expected=expected,
        lower=expected * 0.9, upper=expected * 1.1, impact=abs(expected - actual) * hours,
        explanation={"causes": causes or []},
    )
