"""One small demo company per test session, replayed through the whole loop.

``demo_template`` builds it once (``metricloop demo``'s own preparation at scale 0.05: 6 months
of history detected, explained, turned into incidents, worked by their owners, some reviewed)
with real local receivers for its chat robots and mail; tests get a *copy* of the folder
(``demo_copy``) so each module may change incidents freely.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from metricloop.service import MetricLoop

SCALE = 0.05
# users of the copies: role and data scope (the demo's own admin/he.jing get new passwords per build)
USERS: dict[str, dict[str, Any]] = {
    "boss": {"role": "admin", "display_name": "老板"},
    "east": {"role": "owner", "display_name": "何静", "attributes": {"region": ["华东"]}},
    "south": {"role": "owner", "display_name": "林慧", "attributes": {"region": ["华南"]}},
    "north": {"role": "analyst", "attributes": {"region": ["华北"]}},
    "ed": {"role": "editor", "attributes": {"region": ["*"]}},
    "viewer": {"role": "viewer", "attributes": {"region": ["*"]}},
    "noscope": {"role": "owner"},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(root: Path, *options: str, log: Path) -> Iterator[str]:
    """`metricloop serve --project root *options` in a subprocess, as outside `metricloop demo`
    (no ML_* variables); yields its URL once /healthz answers, stops it afterwards. The server's
    output goes to ``log`` and is shown if it dies while starting."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_")}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from metricloop.cli.main import main; main()", "serve",
                                 "--project", str(root), "--port", str(port), *options],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(30)


@contextmanager
def receivers() -> Iterator[dict[str, str]]:
    """The demo's local DingTalk/WeCom/Feishu/webhook robots and an SMTP sink, and their ML_* env vars
    (set for the duration, then restored)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from metricloop.notify.emulator import RobotEmulator
    from metricloop.workflow.demo import emulator_env

    port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    saved = {k: v for k, v in os.environ.items() if k.startswith("ML_")}
    try:
        with RobotEmulator() as emu:
            env = emulator_env(emu, smtp_port=port)
            os.environ.update(env)
            yield env
    finally:
        for k in [k for k in os.environ if k.startswith("ML_")]:
            del os.environ[k]
        os.environ.update(saved)
        smtp.stop()


def demo_template(factory: pytest.TempPathFactory) -> Path:
    """The replayed demo, built once per session (in the session's base temp folder)."""
    root = factory.getbasetemp() / "demo-template"
    if (root / "READY").exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    import metricloop.cli.loop_commands  # noqa: F401  (registers the replay step of `metricloop demo`)
    from metricloop import scaffold
    from metricloop.cli.serve_commands import prepare_demo

    scaffold.init_demo(root, scale=SCALE)
    # Row-scope tests need anomalies and incidents in every big region, whatever the shipped
    # monitors' tuning (they are quiet: on this 5 % company some regions would have no record at
    # all). The test company's sessions monitor is jumpy on purpose: every regional blip counts.
    traffic = root / "monitors" / "traffic.yaml"
    text = traffic.read_text(encoding="utf-8")
    for shipped, jumpy in (("  min_share_deviation:", "  # min_share_deviation:"),
                           ("params: {warning: 4, critical: 6}", "params: {warning: 2.5, critical: 6}")):
        assert shipped in text, shipped
        text = text.replace(shipped, jumpy)
    traffic.write_text(text, encoding="utf-8")
    with receivers():
        ml, _ = prepare_demo(root, scale=SCALE)
        ml.close()
    (root / "READY").write_text("ok", encoding="utf-8")
    return root


@dataclass
class Demo:
    """A copy of the replayed demo, its facade and API tokens of :data:`USERS`."""

    root: Path
    ml: MetricLoop
    tokens: dict[str, str] = field(default_factory=dict)
    client: Any = None

    def as_(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def demo_copy(factory: pytest.TempPathFactory, name: str = "demo") -> Demo:
    """A fresh copy of the session's demo with the test users (tokens only: argon2 is slow)."""
    src = demo_template(factory)
    root = factory.mktemp(name) / "shop"
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("READY"))
    ml = MetricLoop.open(root)
    demo = Demo(root, ml)
    for username, spec in USERS.items():
        ml.access.create_user(username, **spec)
        demo.tokens[username] = ml.access.create_token(username, "tests")[0]
    return demo
