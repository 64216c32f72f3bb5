"""End to end in a real browser: Playwright driving Debian's Chromium against `metricloop serve`.

Screenshots go to ``$METRICLOOP_ARTIFACTS/ui`` (default: ``tests/ui/artifacts``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install -y chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is a dev dependency (pip install playwright)")

ARTIFACTS = Path(os.environ.get("METRICLOOP_ARTIFACTS", Path(__file__).parent / "artifacts")) / "ui"
PASSWORD = "demo-password-1"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@dataclass
class Server:
    url: str
    root: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from metricloop import scaffold
    from metricloop.service import MetricLoop

    root = tmp_path_factory.mktemp("ui") / "demo"
    scaffold.init_demo(root, scale=0.05)
    ml = MetricLoop.open(root)
    ml.access.add_policy("region", "region", "region")
    ml.access.create_user("admin", role="admin", password=PASSWORD, display_name="管理员")
    ml.access.create_user("he.jing", role="owner", password=PASSWORD, display_name="何静",
                          attributes={"region": ["华东"]})
    ml.close()
    port = _free_port()
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", "from metricloop.cli.main import main; main()", "serve",
                             "--project", str(root), "--port", str(port), "--no-scheduler"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (root / "serve.log").read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        yield Server(url, root)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(browser: Any, server: Server, user: str) -> Any:
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.set_default_timeout(30_000)
    page.goto(f"{server.url}/dictionary")
    assert "/login" in page.url  # not signed in: sent to the login page, then back
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/dictionary")
    return page


def click_last_point(page: Any) -> str:
    """Click the newest point of the trend chart where it is drawn (a real mouse click)."""
    page.wait_for_function("() => { const el = document.querySelector('.ml-trend-chart');"
                           " const c = el && getElement(el).chart;"
                           " return c && c.getOption().xAxis[0].data.length > 0; }")
    x, y, day = page.evaluate("""() => {
        const el = document.querySelector('.ml-trend-chart'); const chart = getElement(el).chart;
        const opt = chart.getOption(); const n = opt.xAxis[0].data.length;
        const p = chart.convertToPixel({seriesIndex: 0}, [n - 1, opt.series[0].data[n - 1]]);
        const r = el.getBoundingClientRect(); return [r.left + p[0], r.top + p[1], opt.xAxis[0].data[n - 1]];
    }""")
    page.mouse.click(x, y)
    return str(day)


def test_sign_in_dictionary_metric_and_drill_down(browser: Any, server: Server) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{server.url}/login")
    shot(page, "01-login")
    page.close()

    page = login(browser, server, "admin")
    page.locator("[data-testid=metric-table] tbody tr").first.wait_for()
    page.fill("input[data-testid=metric-search]", "销售额")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=metric-table] tbody tr').length === 2")
    assert "成交额" in page.inner_text("[data-testid=metric-table]")
    shot(page, "02-dictionary-search")

    page.locator("[data-testid=metric-table] tbody tr", has_text="gmv").first.click()
    page.wait_for_url("**/dictionary/gmv")
    assert "统计周期内已支付订单" in page.inner_text("[data-testid=business-definition]")
    day = click_last_point(page)
    page.locator("[data-testid=drill-table]").wait_for()
    assert day in page.inner_text("[data-testid=drill-title]")
    regions = page.locator("[data-testid=drill-table] tbody tr td:first-child").all_inner_texts()
    assert {"华东", "华北", "华南"} <= set(regions)
    shot(page, "03-metric-drilldown")

    page.goto(f"{server.url}/")
    page.locator("[data-metric=gmv]").wait_for()
    assert "¥" in page.inner_text("[data-metric=gmv]")
    shot(page, "04-home")

    page.click("[data-testid=switch-language]")
    page.goto(f"{server.url}/dictionary")
    page.locator("[data-testid=metric-table] tbody tr").first.wait_for()
    assert "Metric dictionary" in page.inner_text("body")
    shot(page, "05-dictionary-en")

    page.goto(f"{server.url}/admin")
    page.locator("[data-testid=user-table] tbody tr").first.wait_for()
    assert "he.jing" in page.inner_text("[data-testid=user-table]")
    shot(page, "06-admin")
    page.goto(f"{server.url}/incidents")
    assert page.locator("[data-testid=placeholder]").count() == 1
    page.close()


def test_region_manager_sees_only_her_region(browser: Any, server: Server) -> None:
    page = login(browser, server, "he.jing")
    page.goto(f"{server.url}/dictionary/orders")
    click_last_point(page)
    page.locator("[data-testid=drill-table]").wait_for()
    regions = page.locator("[data-testid=drill-table] tbody tr td:first-child").all_inner_texts()
    assert regions == ["华东"]
    assert "用户与角色" not in page.inner_text("header")  # no admin entry for an owner
    shot(page, "07-region-manager-drilldown")
    page.goto(f"{server.url}/admin")
    assert "无权访问" in page.inner_text("body")
    page.close()
