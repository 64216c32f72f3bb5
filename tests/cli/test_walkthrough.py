"""The README's first-hour walkthrough, run exactly as written: a food-delivery company's hourly
CSV to a backfilled loop with an incident, in five commands, without the demo."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from pathlib import Path

import pytest

from metricloop.notify.emulator import RobotEmulator
from tests.cli.test_cli import ml

START = dt.datetime(2026, 7, 27)  # a Monday; ten weeks of hours
DAYS = 70
CITIES = {"beijing": 0.34, "shanghai": 0.3, "chengdu": 0.2, "wuhan": 0.16}
CHANNELS = {"app": 0.7, "mini_program": 0.3}
#: the injected incident: Shanghai's app orders fall by 70 % for six hours on a Tuesday
OUTAGE = (dt.datetime(2026, 9, 29, 11), dt.datetime(2026, 9, 29, 17))


def hourly_csv(path: Path, seed: int = 7) -> Path:
    """hour, city, channel, orders, gmv — lunch and dinner peaks, weekends busier, Poisson-like noise."""
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["hour", "city", "channel", "orders", "gmv"])
        for h in range(DAYS * 24):
            t = START + dt.timedelta(hours=h)
            curve = 0.15 + math.exp(-((t.hour - 12) ** 2) / 3) + 1.2 * math.exp(-((t.hour - 18.5) ** 2) / 4)
            weekend = 1.15 if t.weekday() >= 5 else 1.0
            for city, share in CITIES.items():
                for channel, cshare in CHANNELS.items():
                    lam = 900 * curve * weekend * share * cshare
                    if city == "shanghai" and channel == "app" and OUTAGE[0] <= t < OUTAGE[1]:
                        lam *= 0.3
                    n = max(0, round(rnd.gauss(lam, math.sqrt(lam))))
                    w.writerow([t.isoformat(sep=" "), city, channel, n, round(n * rnd.uniform(38, 46), 2)])
    return path


@pytest.mark.slow
def test_csv_to_incidents_in_five_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_WEBHOOK_URL", raising=False)  # a new company has not set its channel yet
    data = hourly_csv(tmp_path / "orders.csv")
    shop = tmp_path / "shop"
    # the five commands of the README walkthrough
    ml("init", str(shop), "--locale", "en")
    ml("ingest", str(data), "--table", "orders", "-p", str(shop))
    ml("catalog", "infer", "orders", "--write", "-p", str(shop))
    suggested = ml("monitors", "suggest", "--write", "-p", str(shop))
    run = ml("run", "--backfill-from", "2026-09-01", "--at", "2026-10-05", "-p", str(shop), "-f", "json")

    assert (shop / "owners.yaml").exists() and (shop / "channels.yaml").exists()
    assert "${ML_WEBHOOK_URL}" in (shop / "channels.yaml").read_text(encoding="utf-8")
    model = (shop / "models" / "orders.yaml").read_text(encoding="utf-8")
    assert model.startswith("# yaml-language-server: $schema=../schemas/models.json")
    monitors = (shop / "monitors" / "suggested.yaml").read_text(encoding="utf-8")
    assert "orders_by_city" in suggested.stdout and "orders_by_city" in monitors
    assert "grain: hour" in monitors and "type: seasonal" in monitors
    summary = json.loads(run.stdout)
    assert summary["failed_monitors"] == []
    assert summary["incidents_opened"] >= 1

    listed = json.loads(ml("incidents", "list", "-p", str(shop), "-f", "json").stdout)
    incidents = listed if isinstance(listed, list) else listed.get("incidents", listed.get("items", []))
    found = [i for i in incidents if "shanghai" in json.dumps(i, ensure_ascii=False)]
    assert found, f"no incident names Shanghai: {json.dumps(incidents, ensure_ascii=False)[:800]}"
    # few false alarms in five weeks of clean data around it
    assert len(incidents) <= 4, json.dumps(incidents, ensure_ascii=False)[:2000]
    assert "stale data" not in run.stderr  # the data reaches --at

    # the unset ${ML_WEBHOOK_URL} does not fail the pass: its messages wait, and it says why
    assert "channel team-webhook: environment variable ML_WEBHOOK_URL is not set" in run.stderr
    assert summary["messages_sent"] == 0 and summary["messages_failed"] >= 1
    waiting = json.loads(ml("incidents", "outbox", "--status", "pending", "-p", str(shop), "-f", "json").stdout)
    assert len(waiting) >= summary["messages_failed"]
    assert all("ML_WEBHOOK_URL is not set" in (m["last_error"] or "") for m in waiting)
    # once it is set, the waiting messages go out, each exactly once
    with RobotEmulator() as emu:
        monkeypatch.setenv("ML_WEBHOOK_URL", emu.webhook("team"))
        for _ in range(2):
            ml("incidents", "tick", "-p", str(shop))
        got = [r.idempotency_id for r in emu.recorded("webhook")]
    assert {m["id"] for m in waiting} <= set(got) and len(got) == len(set(got))

    # honest output: weeks later, with no new data, "0 anomalies" comes with a stale-data warning
    later = ml("detect", "--at", "2026-12-07T10:00", "-p", str(shop))
    assert "stale data" in later.stderr and "hour(s) were not judged" in later.stderr
    listed = ml("anomalies", "list", "-p", str(shop)).stdout
    assert ".0 " not in listed and "shanghai" in listed  # counts print as 111, not 111.0


def test_schema_command_prints_a_kind() -> None:
    schema = json.loads(ml("schema", "monitors").stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["type"] == "object" and "MonitorSpec" in schema["$defs"]
    bad = ml("schema", "monitor", check=False)
    assert bad.returncode == 1 and "expected one of project, models, monitors" in bad.stderr


def test_the_starter_is_valid_before_any_model(tmp_path: Path) -> None:
    out = ml("init", str(tmp_path / "p"), "--locale", "en").stdout
    assert "metricloop catalog infer" in out and "metricloop monitors suggest --write" in out
    checked = ml("validate", "--no-env", "-p", str(tmp_path / "p"), check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 channels, 1 people, 1 teams, 2 rules" in checked.stdout
