"""The security headers (issue 14) do not break the UI: a real browser signs in and opens the
main pages of `metricloop serve` with the Content-Security-Policy on, and reports no violation."""

from __future__ import annotations

from typing import Any

from tests.ui.test_browser import ARGS, CHROMIUM, PASSWORD, Server, browser, pytestmark, server  # noqa: F401

PAGES = ["/", "/dictionary", "/dictionary/gmv", "/incidents", "/alerts", "/monitors", "/cases", "/admin"]


def test_pages_render_under_the_content_security_policy(browser: Any, server: Server) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
    page.set_default_timeout(30_000)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: violations.append(str(e)) if "Content Security Policy" in str(e) else None)
    first = page.goto(f"{server.url}/login")
    assert first is not None
    headers = first.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    for path in PAGES:
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status < 400, path
        page.wait_for_selector(".q-page, .nicegui-content")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => document.querySelectorAll('.nicegui-content *').length") > 5, path
    assert violations == []
