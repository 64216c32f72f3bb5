"""The UI as people would rather look than read (issue 18), in Chromium, in both languages:
sparklines on the home cards, a chart of the anomaly window on every alert, the explanation's
top slices on incident cards, similar cases in one language, the stale-data notice on a metric.

Screenshots: ``$METRICLOOP_ARTIFACTS/ui/first-hour-<page>-<lang>.png``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ui.test_browser import ARTIFACTS, CHROMIUM, PASSWORD, Server, browser, server, shot  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install -y chromium)"),
]
HAN = re.compile(r"[\u4e00-\u9fff]")


def signed_in(browser: Any, server: Server, lang: str) -> Any:  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.add_cookies([{"name": "metricloop_locale", "value": lang, "url": server.url}])
    page = ctx.new_page()
    page.set_default_timeout(45_000)
    page.goto(f"{server.url}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/**")
    return page


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_pictures_on_every_page_in_one_language(browser: Any, server: Server, lang: str) -> None:  # noqa: F811
    from metricloop.detect.staleness import stale_monitors
    from metricloop.service import MetricLoop

    tag = "zh" if lang == "zh-CN" else "en"
    page = signed_in(browser, server, lang)

    # home: every card with a value carries a 28-day sparkline
    page.goto(f"{server.url}/")
    page.locator("[data-metric=gmv] [data-testid=sparkline] polyline").wait_for()
    cards = page.locator("[data-metric]").count()
    sparks = page.locator("[data-metric] [data-testid=sparkline]").count()
    assert cards >= 5 and sparks >= cards - 2, (cards, sparks)  # a card without data has no line
    shot(page, f"first-hour-home-{tag}")

    # alerts: a chart of the anomaly window (abnormal periods shaded) on every alert
    page.goto(f"{server.url}/alerts")
    page.locator("[data-testid=alert]").first.wait_for()
    alerts = page.locator("[data-testid=alert]").count()
    windows = page.locator("[data-testid=alert] [data-testid=alert-window]").count()
    assert alerts >= 3 and windows == alerts, (alerts, windows)
    assert page.locator("[data-testid=alert-window-window]").count() == alerts
    shot(page, f"first-hour-alerts-{tag}")

    # incident board: the explanation's top slices on the cards
    page.goto(f"{server.url}/incidents")
    page.locator("[data-testid=incident-card]").first.wait_for()
    tops = page.locator("[data-testid=incident-top-slices]")
    assert tops.count() >= 1
    assert "=" in tops.first.inner_text()
    shot(page, f"first-hour-board-{tag}")

    # an incident with similar past cases: their texts in the reader's language only
    ml = MetricLoop.open(server.root)
    try:
        closed = [i for i in ml.workflow.list_incidents() if ml.review.similar(i["id"], limit=5)]
        stale = stale_monitors(ml.detection, metric="gmv")
    finally:
        ml.close()
    assert closed, "the demo has incidents with similar cases"
    number = str(closed[0]["id"]).removeprefix("INC-")
    page.goto(f"{server.url}/incidents/{number}")
    page.locator("[data-testid=similar-cases]").wait_for()
    page.locator("[data-testid=alert-window]").first.wait_for()
    causes = page.locator("[data-testid=similar-root-cause]").all_inner_texts()
    assert causes
    for text in causes:
        assert bool(HAN.search(text)) == (lang == "zh-CN"), text
    shot(page, f"first-hour-incident-{tag}")

    # the metric page says when its monitors' data is stale
    page.goto(f"{server.url}/dictionary/gmv")
    page.locator("[data-testid=business-definition]").wait_for()
    notices = page.locator("[data-testid=stale-data]")
    assert notices.count() == len(stale)
    if stale:
        assert ("数据陈旧" if lang == "zh-CN" else "Stale data") in notices.first.inner_text()
    shot(page, f"first-hour-metric-{tag}")
    page.context.close()
