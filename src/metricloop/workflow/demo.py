"""Point the demo's ``channels.yaml`` at local receivers (the robot emulator, an SMTP server).

The demo project's channels read their URLs and secrets from ``ML_*`` environment variables;
:func:`emulator_env` registers one robot per channel on a running
:class:`~metricloop.notify.emulator.RobotEmulator` and returns the variables to set, so
``metricloop demo`` and the tests deliver real HTTP requests without the internet.
"""

from __future__ import annotations

from typing import Any

from metricloop.notify.emulator import RobotEmulator, webhook_secret

DINGTALK_SECRET = "SECdemo-metricloop-0000000000000000"
FEISHU_SECRET = "feishu-demo-secret"


def emulator_env(
    emu: RobotEmulator, *, smtp_host: str = "127.0.0.1", smtp_port: int = 2525, **faults: Any
) -> dict[str, str]:
    """Register the demo robots on ``emu`` (``faults`` apply to each) and return the env vars."""
    whsec = webhook_secret(b"metricloop-demo")
    return {
        "ML_DINGTALK_URL": emu.dingtalk("demo-ops", secret=DINGTALK_SECRET, keywords=["告警"], **faults),
        "ML_DINGTALK_SECRET": DINGTALK_SECRET,
        "ML_WECOM_URL": emu.wecom("demo-region", **faults),
        "ML_FEISHU_URL": emu.feishu("demo-pay", secret=FEISHU_SECRET, **faults),
        "ML_FEISHU_SECRET": FEISHU_SECRET,
        "ML_WEBHOOK_URL": emu.webhook("demo-ops", secrets=whsec, **faults),
        "ML_WEBHOOK_SECRET": whsec,
        "ML_SMTP_HOST": smtp_host,
        "ML_SMTP_PORT": str(smtp_port),
    }
