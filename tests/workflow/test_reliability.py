"""Reliability, end to end: 1,000 alerts while every channel fails 30% of calls, Feishu is down
for three (simulated) minutes, Slack is broken for good (its work falls back to email), and the
process is killed with SIGKILL twice mid-pass and restarted. Afterwards every alert's message was
delivered (alone, in a digest or through the fallback), nothing is pending or dead, and no
idempotency id was acted on twice where the receiver deduplicates (Standard Webhooks); chat robots
and SMTP cannot deduplicate, so there a duplicate is only possible for a send the kill interrupted.

Real processes, real HTTP (robot emulator), real SMTP (aiosmtpd), real SQLite; the receivers and
the worker share an accelerated clock (SPEED × real time) so rate-limit windows and backoff take
seconds, not hours. Because a few milliseconds of scheduling delay become seconds of simulated
time, the channels declare limits a little stricter than the platforms' (``rate_limit`` in
channels.yaml); the exact platform limits are tested with a frozen clock in
tests/notify/test_outbox_dispatch.py.
"""

from __future__ import annotations

import datetime as dt
import email
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from metricloop.notify.emulator import RobotEmulator, webhook_secret
from metricloop.store import Store
from metricloop.store.workflow_models import DeliveryAttempt, Incident, OutboxMessage

SPEED = 30.0
SIM_T0 = dt.datetime(2026, 3, 20, 9, tzinfo=dt.UTC).timestamp()
WORKER = Path(__file__).with_name("reliability_worker.py")
FAIL = 0.3

OWNERS = """
people:
  p0: {name: 甲, mobile: "13900000000", team: t0}
  p1: {name: 乙, team: t1, user_ids: {wecom: yi}}
  p2: {name: 丙, team: t2}
  p3: {name: 丁, team: t3}
  p4: {name: 戊, team: t4, email: wu@example.com}
teams:
  t0: {lead: p0, channels: [ding]}
  t1: {lead: p1, channels: [wecom]}
  t2: {lead: p2, channels: [feishu]}
  t3: {lead: p3, channels: [hook]}
  t4: {lead: p4, channels: [slack]}
rules:
  - {slice: {region: r0}, owner: p0}
  - {slice: {region: r1}, owner: p1}
  - {slice: {region: r2}, owner: p2}
  - {slice: {region: r3}, owner: p3}
  - {slice: {region: r4}, owner: p4}
sla: {ack: {critical: 1 day, high: 1 day, medium: 1 day}}
"""
CHANNELS = """
channels:
  - {name: ding, type: dingtalk, url: "${R_DING}", secret: "${R_DING_SECRET}", keyword: 告警, fallback: mail,
     rate_limit: [{count: 20, per_seconds: 66}]}
  - {name: wecom, type: wecom, url: "${R_WECOM}", fallback: mail, rate_limit: [{count: 20, per_seconds: 66}]}
  - {name: feishu, type: feishu, url: "${R_FEISHU}", secret: "${R_FEISHU_SECRET}", fallback: mail,
     rate_limit: [{count: 5, per_seconds: 4}, {count: 100, per_seconds: 66}]}
  - {name: hook, type: webhook, url: "${R_HOOK}", secret: "${R_HOOK_SECRET}", fallback: mail}
  - {name: slack, type: slack, url: "${R_SLACK}", fallback: mail}
  - name: mail
    type: email
    smtp: {host: 127.0.0.1, port: "${R_SMTP_PORT}", security: none, timeout_s: 5}
    sender: ml@example.com
    to: [ops@example.com]
"""


class FlakyInbox:
    """An SMTP receiver that answers 451 (try later) to 30% of messages, seeded."""

    def __init__(self) -> None:
        self.rng = random.Random(9)
        self.message_ids: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.rng.random() < FAIL:
                return "451 4.3.0 try again later"
            msg = email.message_from_bytes(envelope.content)
            self.message_ids[str(msg["Message-ID"]).strip("<>").removesuffix("@metricloop")] += 1
        return "250 OK"


class Worker:
    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(WORKER), str(project)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def kill(self) -> str:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return self.lines[-1] if self.lines else ""


def wait_for(cond: Any, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_thousand_alerts_flaky_channels_outage_two_kills_nothing_lost(tmp_path: Path) -> None:
    real_t0 = time.time()

    def sim() -> float:
        return SIM_T0 + (time.time() - real_t0) * SPEED

    inbox = FlakyInbox()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        smtp_port = int(sock.getsockname()[1])
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    whsec = webhook_secret(b"reliability")
    project = tmp_path / "p"
    project.mkdir()
    (project / "metricloop.yaml").write_text("name: reliability\ntimezone: UTC\n", encoding="utf-8")
    (project / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    (project / "channels.yaml").write_text(CHANNELS, encoding="utf-8")
    db = tmp_path / "state.db"
    kills: list[str] = []
    try:
        with RobotEmulator(clock=sim, seed=13) as emu:
            env = {
                **os.environ,
                "R_DING": emu.dingtalk("ding-tok-5a5a", secret="SECreliable", keywords=["告警"], failure_rate=FAIL),
                "R_DING_SECRET": "SECreliable",
                "R_WECOM": emu.wecom("wecom-key-5b5b", failure_rate=FAIL),
                "R_FEISHU": emu.feishu("feishu-hook-5c5c", secret="fs-secret", failure_rate=FAIL,
                                       outages=[(SIM_T0 + 60, SIM_T0 + 240)]),
                "R_FEISHU_SECRET": "fs-secret",
                "R_HOOK": emu.webhook("hook", secrets=whsec, failure_rate=FAIL),
                "R_HOOK_SECRET": whsec,
                "R_SLACK": emu.slack("T9/B9/slack-path-5d5d", broken=True),
                "R_SMTP_PORT": str(smtp_port),
                "METRICLOOP_STATE_URL": f"sqlite:///{db}",
                "METRICLOOP_ACTION_SECRET": "reliability-action-secret-000000000000000000",
                "SIM_T0": str(SIM_T0), "REAL_T0": str(real_t0), "SPEED": str(SPEED),
            }
            w = Worker(project, env)
            wait_for(lambda: len(emu.recorded()) >= 150, 60, "first deliveries")
            kills.append(w.kill())
            w = Worker(project, env)
            n = len(emu.recorded())
            wait_for(lambda: len(emu.recorded()) >= n + 300, 60, "deliveries after the restart")
            kills.append(w.kill())
            w = Worker(project, env)
            wait_for(lambda: w.proc.poll() is not None, 120, "the worker to finish")
            assert w.proc.returncode == 0, "\n".join(w.lines[-20:])
            assert w.lines[-1] == "DONE"
            sim_seconds = sim() - SIM_T0

            store = Store(f"sqlite:///{db}", migrate=False)
            with store.session() as s:
                outbox = {r.id: r for r in s.scalars(sa.select(OutboxMessage))}
                n_incidents = s.scalar(sa.select(sa.func.count()).select_from(Incident))
                attempts = list(s.scalars(sa.select(DeliveryAttempt)))
            store.dispose()

            # every alert became an incident with one message, and every message is delivered
            originals = {i for i, r in outbox.items() if r.incident_id is not None and not i.endswith("-fb")}
            assert n_incidents == 1000 and len(originals) == 1000
            assert Counter(r.status for r in outbox.values())["delivered"] == len(outbox)

            # … and the receivers prove it: what they acted on, expanded through digest/fallback covers
            acted = emu.acted_ids() | {i for i, c in inbox.message_ids.items() if c}
            reached: set[str] = set()
            for i in acted:
                reached.add(i)
                reached.update(outbox[i].covers if i in outbox else ())
            assert originals <= reached, f"{len(originals - reached)} messages never reached a receiver"

            dups = emu.duplicates_acted()
            assert not [k for k in dups if k[0].startswith("webhook/")]  # deduplicating receiver: never twice
            robot_or_mail_dups = len(dups) + sum(1 for c in inbox.message_ids.values() if c > 1)
            assert robot_or_mail_dups <= len(kills)  # only a send cut by a kill can be shown twice
            limit_codes = (b"130101", b"45009", b"11232")
            refused = [rec for rec in emu.recorded() for code in limit_codes if code in rec.response]
            assert not refused  # we never exceeded a robot's rate limit

            by_outcome = Counter(a.outcome for a in attempts)
            figures = {
                "alerts": 1000, "incidents": n_incidents, "outbox_rows": len(outbox),
                "digests": sum(1 for r in outbox.values() if r.kind == "digest"),
                "fallback_rows": sum(1 for i in outbox if i.endswith("-fb")),
                "attempts": len(attempts), **{f"attempts_{k}": v for k, v in sorted(by_outcome.items())},
                "http_requests": len(emu.recorded()), "emails_accepted": sum(inbox.message_ids.values()),
                "acted_ids": len(acted), "webhook_duplicates_ignored": sum(emu.duplicates_received.values()),
                "robot_or_mail_duplicates": robot_or_mail_dups, "kills": len(kills),
                "simulated_minutes": round(sim_seconds / 60, 1), "real_seconds": round(time.time() - real_t0, 1),
            }
            print("RELIABILITY", figures, "killed after:", kills)
    finally:
        smtp.stop()
