"""`metricloop demo` — the README's first command — on an existing demo folder: it reuses the data
and the replayed history, prints the sign-ins once, and says how to serve the folder again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.api.demo import demo_template, receivers, served

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_demo_reuses_the_folder_and_says_how_to_serve_it_again(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from metricloop.cli.main import app
    from metricloop.service import MetricLoop

    root = tmp_path / "shop"
    shutil.copytree(demo_template(tmp_path_factory), root, ignore=shutil.ignore_patterns("READY"))
    before = len(MetricLoop.open(root).workflow.list_incidents())
    with receivers():  # what `demo` starts itself when no ML_* variable is set
        out = CliRunner().invoke(app, ["demo", "--dir", str(root), "--no-serve"], env={"METRICLOOP_LOCALE": "en"})
        zh = CliRunner().invoke(app, ["demo", "--dir", str(root), "--no-serve"], env={"METRICLOOP_LOCALE": None})
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())  # rich wraps long lines
    assert "demo ready" in text
    assert "admin" in text and "he.jing" in text  # new passwords, shown once
    assert "metricloop demo --dir" in text and "serves it again with its local chat-robot" in text
    assert "metricloop serve -p" in text and "need real ML_* webhook settings" in text
    assert zh.exit_code == 0, zh.output
    assert "会连同本地机器人与邮件接收端再次启动" in "".join(zh.output.split())
    assert len(MetricLoop.open(root).workflow.list_incidents()) == before  # history reused, not replayed twice


def test_serve_with_demo_receivers_delivers_the_channels_test_send(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A demo folder served with `serve` (not `demo`) has no ML_* settings; `--demo-receivers`
    starts the local robots and mail sink, so the channels test-send reaches them."""
    import httpx

    from metricloop.service import MetricLoop

    root = tmp_path / "shop"
    shutil.copytree(demo_template(tmp_path_factory), root, ignore=shutil.ignore_patterns("READY"))
    ml = MetricLoop.open(root)
    ml.access.create_user("ed", role="editor", attributes={"region": ["*"]})
    token = ml.access.create_token("ed", "tests")[0]
    ml.close()
    auth = {"Authorization": f"Bearer {token}"}
    with served(root, "--no-scheduler", "--no-ui", "--demo-receivers", log=tmp_path / "serve.log") as url:
        channels = httpx.get(f"{url}/api/v1/channels", headers=auth, timeout=10).json()
        assert all(c["configured"] for c in channels), channels
        for name in ("ops-dingtalk", "ops-email"):
            sent = httpx.post(f"{url}/api/v1/channels/{name}/test", headers=auth, timeout=30)
            assert sent.status_code == 200 and sent.json()["delivered"] is True, sent.text
