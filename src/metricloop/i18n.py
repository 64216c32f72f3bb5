"""Bilingual text (zh-CN and en) for everything a user reads.

Domain code returns :class:`Text` values rather than strings so that each door (CLI, API, UI,
chat message) renders them in the reader's locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Locale = Literal["zh-CN", "en"]
LOCALES: tuple[Locale, ...] = ("zh-CN", "en")
DEFAULT_LOCALE: Locale = "zh-CN"


def normalize_locale(value: str | None) -> Locale:
    """Map ``zh``, ``zh_CN``, ``zh-Hans``, ``en-US``... onto the two supported locales."""
    if value and value.lower().replace("_", "-").startswith("zh"):
        return "zh-CN"
    if value and value.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


@dataclass(frozen=True)
class Text:
    """A message in both languages; ``{name}`` placeholders are filled by :meth:`render`."""

    en: str
    zh: str

    def render(self, locale: str | None = None, **params: Any) -> str:
        template = self.zh if normalize_locale(locale) == "zh-CN" else self.en
        return template.format(**params) if params else template

    def format(self, **params: Any) -> Text:
        """Both languages filled with the same parameters."""
        return Text(en=self.en.format(**params), zh=self.zh.format(**params))

    def to_dict(self) -> dict[str, str]:
        return {"en": self.en, "zh-CN": self.zh}


def pick(labels: dict[str, str] | None, locale: str | None, fallback: str) -> str:
    """Choose a label from a ``{"zh-CN": ..., "en": ...}`` mapping with sensible fallbacks."""
    if not labels:
        return fallback
    loc = normalize_locale(locale)
    return labels.get(loc) or labels.get("en") or labels.get("zh-CN") or fallback
