"""Every UI text exists in both languages with the same placeholders."""

from __future__ import annotations

import string

from metricloop.access.roles import Role
from metricloop.ui.layout import NAV
from metricloop.ui.texts import T, t, unit_text


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_text_is_bilingual_with_the_same_placeholders() -> None:
    for key, text in T.items():
        assert text.en.strip() and text.zh.strip(), key
        assert _fields(text.en) == _fields(text.zh), key


def test_every_navigation_entry_role_and_tier_has_a_label() -> None:
    keys = {item.text for item in NAV} | {f"role_{r.value}" for r in Role}
    keys |= {f"tier_{tier}" for tier in ("north_star", "primary", "secondary", "diagnostic")}
    assert keys <= set(T)


def test_rendering_picks_the_language() -> None:
    assert t("nav_dictionary", "zh-CN") == "指标字典"
    assert t("nav_dictionary", "en") == "Metric dictionary"
    assert t("results", "en", n=3) == "3 metrics"
    assert unit_text("currency:CNY", "zh-CN") == "人民币元"
    assert unit_text("kg", "en") == "kg"
