"""The ask box in a real browser: a question typed on the home page comes back with the
interpretation and an ECharts chart; on a metric page a question without a metric is about it.

Playwright drives Debian's Chromium against `metricloop serve` on a freshly built demo (no
replayed history: the assistant only needs the catalog and the warehouse).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install -y chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is a dev dependency (pip install playwright)")
PASSWORD = "ask-password-1"
ARTIFACTS = Path(os.environ.get("METRICLOOP_ARTIFACTS", Path(__file__).parent / "artifacts")) / "ui"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from metricloop import scaffold
    from metricloop.service import MetricLoop
    from tests.api.demo import served

    root = tmp_path_factory.mktemp("askui") / "shop"
    scaffold.init_demo(root, scale=0.02)
    ml = MetricLoop.open(root)
    ml.access.create_user("asker", role="admin", password=PASSWORD, display_name="提问者")
    ml.close()
    try:
        with served(root, "--no-scheduler", log=root / "serve.log") as base:
            yield base
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def page(url: str) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        pg.set_default_timeout(60_000)
        pg.goto(f"{url}/login")
        pg.fill("#username", "asker")
        pg.fill("#password", PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_url(f"{url}/")
        yield pg
        browser.close()


def _ask(pg: Any, question: str) -> None:
    pg.fill("input[data-testid=ask-input]", question)
    pg.click("[data-testid=ask-button]")


def _chart_option(pg: Any) -> dict[str, Any]:
    pg.wait_for_function("() => { const el = document.querySelector('.ml-ask-chart');"
                         " const c = el && getElement(el).chart; return c && c.getOption().series.length > 0; }")
    return dict(pg.evaluate("() => { const o = getElement(document.querySelector('.ml-ask-chart')).chart.getOption();"
                            " return {series: o.series.map(s => ({type: s.type, n: s.data.length})),"
                            " x: (o.xAxis[0].data || []).length}; }"))


def test_ask_on_home_shows_the_interpretation_and_a_chart(page: Any, url: str) -> None:
    pg = page
    pg.goto(f"{url}/")
    _ask(pg, "近30天各渠道的订单数趋势")
    pg.locator("[data-testid=ask-interpretation]").wait_for()
    text = pg.inner_text("[data-testid=ask-interpretation]")
    assert "订单数" in text and "渠道" in text and "按天" in text
    option = _chart_option(pg)
    assert {s["type"] for s in option["series"]} == {"line"} and len(option["series"]) == 4  # one line per channel
    assert option["x"] == 30
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "ask-home.png"), full_page=True)


def test_ask_on_a_metric_page_is_about_that_metric(page: Any, url: str) -> None:
    pg = page
    pg.goto(f"{url}/dictionary/gmv")
    pg.locator("[data-testid=ask-box]").wait_for()
    _ask(pg, "上个月各大区排名")
    pg.locator("[data-testid=ask-interpretation]").wait_for()
    assert "成交额" in pg.inner_text("[data-testid=ask-interpretation]")
    option = _chart_option(pg)
    assert option["series"][0]["type"] == "bar" and option["series"][0]["n"] == 7  # the demo's seven regions
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "ask-metric.png"), full_page=True)
