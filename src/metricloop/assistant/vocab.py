"""What the assistant can recognise, read off the catalog and the warehouse's dimension values.

Every phrase comes from the project: metric names, labels and ``synonyms``; dimension names,
labels and synonyms; the distinct values of categorical dimensions (read by the service, passed
in here). Nothing is specific to one company: a different catalog gives a different vocabulary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from metricloop.catalog.catalog import Catalog, available_dimensions
from metricloop.catalog.models import Lifecycle

# Chinese count/amount suffixes: "订单数" is also asked as "订单", "退款金额" as "退款"
_ZH_SUFFIXES = ("次数", "金额", "数量", "数", "量", "额")
_ASCII = re.compile(r"^[a-z0-9 _.\-/&+']+$")

# Common names of common values in Chinese business data, in the other language (or the everyday
# word for a code): used only for values the warehouse actually has. Not one company's data: the
# regions and provinces of China, payment methods, sales channels, new/returning buyers.
VALUE_ALIASES: dict[str, tuple[str, ...]] = {
    "华东": ("east china", "eastern china", "huadong"), "华北": ("north china", "northern china", "huabei"),
    "华南": ("south china", "southern china", "huanan"), "华中": ("central china", "huazhong"),
    "西南": ("southwest", "south west", "southwest china", "xinan"),
    "西北": ("northwest", "north west", "northwest china", "xibei"),
    "东北": ("northeast", "north east", "northeast china", "dongbei"),
    "北京": ("beijing",), "上海": ("shanghai",), "天津": ("tianjin",), "重庆": ("chongqing",),
    "河北": ("hebei",), "山西": ("shanxi",), "辽宁": ("liaoning",), "吉林": ("jilin",), "黑龙江": ("heilongjiang",),
    "江苏": ("jiangsu",), "浙江": ("zhejiang",), "安徽": ("anhui",), "福建": ("fujian",), "江西": ("jiangxi",),
    "山东": ("shandong",), "河南": ("henan",), "湖北": ("hubei",), "湖南": ("hunan",), "广东": ("guangdong",),
    "海南": ("hainan",), "四川": ("sichuan",), "贵州": ("guizhou",), "云南": ("yunnan",), "陕西": ("shaanxi",),
    "甘肃": ("gansu",), "青海": ("qinghai",), "台湾": ("taiwan",), "内蒙古": ("inner mongolia",),
    "广西": ("guangxi",), "西藏": ("tibet",), "宁夏": ("ningxia",), "新疆": ("xinjiang",),
    "香港": ("hong kong",), "澳门": ("macau", "macao"),
    "store": ("门店", "线下门店", "线下", "实体店", "offline"), "mini_program": ("小程序", "微信小程序", "miniprogram"),
    "app": ("移动端app", "客户端"), "web": ("网页", "网站", "pc端", "官网", "website"),
    "alipay": ("支付宝",), "wechat_pay": ("微信支付", "wechat", "微信"), "credit_card": ("信用卡",),
    "unionpay": ("银联", "云闪付", "union pay"), "new": ("新客", "新用户", "新买家", "first-time buyers"),
    "returning": ("老客", "老用户", "老买家", "回头客", "repeat buyers"),
}


def normalize(text: str) -> str:
    """Half-width, lower case, one space between words (what every phrase is compared as)."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = t.replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", t).strip()


def phrase_pattern(phrase: str) -> str:
    """A regex for ``phrase`` in a normalised question: word boundaries for Latin words, an optional
    plural ``s``, and ``_``/``-``/space interchangeable; Chinese phrases match as substrings."""
    parts = [re.escape(p) for p in re.split(r"[ _\-]+", phrase) if p]
    body = r"[ _\-]?".join(parts)
    if _ASCII.match(phrase):
        if len(phrase) > 4 and phrase.endswith("s") and not phrase.endswith("ss"):
            body = body[:-1]  # "orders" is also asked as "order"
        elif len(phrase) > 3 and phrase.endswith("y") and phrase[-2:-1] not in "aeiou":
            return rf"(?<![a-z0-9]){body[:-1]}(?:y|ies)(?![a-z0-9])"  # category, categories
        return rf"(?<![a-z0-9]){body}(?:s|es)?(?![a-z0-9])"
    head = r"(?<![a-z0-9])" if phrase[:1].isascii() and phrase[:1].isalnum() else ""
    tail = r"(?![a-z0-9])" if phrase[-1:].isascii() and phrase[-1:].isalnum() else ""
    return head + body + tail


@dataclass
class Entry:
    """A phrase and what it may mean: ``kind`` metric | dimension | value, and the targets."""

    phrase: str
    kind: str
    targets: list[str] = field(default_factory=list)  # metric/dimension names, or "dim=value"
    weak: bool = False  # derived (a stripped suffix, a pinyin-free guess): loses ties


@dataclass
class Vocabulary:
    """Phrases → meanings, plus what each metric offers (for validation and clarification)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    metric_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    dimension_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    metric_dims: dict[str, set[str]] = field(default_factory=dict)
    values: dict[str, list[str]] = field(default_factory=dict)
    formulas: dict[str, str] = field(default_factory=dict)  # derived metric → normalised expr
    headline: list[str] = field(default_factory=list)  # north-star metrics in money: "how much did we sell"
    patterns: list[tuple[re.Pattern[str], Entry]] = field(default_factory=list)

    def add(self, phrase: str, kind: str, target: str, *, weak: bool = False) -> None:
        p = normalize(phrase)
        if not p or (len(p) < 2 and (kind != "dimension" or p.isascii())) \
                or (kind == "value" and _ASCII.match(p) and len(p) < 3):
            return
        key = f"{kind}:{p}"
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = Entry(p, kind, [target], weak)
        elif target not in entry.targets:
            if entry.weak and not weak:
                entry.targets, entry.weak = [target], False
            elif entry.weak == weak:
                entry.targets.append(target)

    def compile(self) -> Vocabulary:
        """Longest phrases first, so 支付成功率 wins over 支付 and 成功率."""
        items = sorted(self.entries.values(), key=lambda e: (-len(e.phrase), e.kind))
        self.patterns = [(re.compile(phrase_pattern(e.phrase)), e) for e in items]
        return self

    def metric_label(self, name: str, locale: str) -> str:
        labels = self.metric_labels.get(name, {})
        return labels.get(locale) or labels.get("en") or name

    def dimension_label(self, name: str, locale: str) -> str:
        labels = self.dimension_labels.get(name, {})
        return labels.get(locale) or labels.get("en") or name


def build(catalog: Catalog, values: Mapping[str, Sequence[str]]) -> Vocabulary:
    """The vocabulary of a catalog and an index of dimension values (``{"region": ["华东", ...]}``)."""
    v = Vocabulary()
    for m in catalog.metrics.values():
        if m.lifecycle is Lifecycle.retired:
            continue
        labels = {"zh-CN": m.label.zh_cn or "", "en": m.label.en or ""} if m.label else {}
        v.metric_labels[m.name] = {k: t for k, t in labels.items() if t}
        v.metric_dims[m.name] = {d for d in available_dimensions(catalog, m) if "__" not in d}
        for phrase in (m.name, m.name.replace("_", " "), *labels.values(), *m.synonyms):
            if phrase:
                v.add(phrase, "metric", m.name)
        zh = labels.get("zh-CN", "")
        for suffix in _ZH_SUFFIXES:
            if zh.endswith(suffix) and len(zh) - len(suffix) >= 2:
                v.add(zh[: -len(suffix)], "metric", m.name, weak=True)
                break
        en = labels.get("en", "")
        if en and " " in en:  # "Payment success rate" is also asked as "payment success"
            words = en.split()
            if words[-1].lower() in ("count", "amount", "number", "total"):
                v.add(" ".join(words[:-1]), "metric", m.name, weak=True)
        if m.expr:
            v.formulas[m.name] = re.sub(r"\s+", "", m.expr.lower())
        if m.tier.value == "north_star" and (m.unit or "").startswith("currency"):
            v.headline.append(m.name)
    for model in catalog.semantic_models.values():
        for d in model.dimensions:
            if d.type != "categorical":
                continue
            labels = {"zh-CN": d.label.zh_cn or "", "en": d.label.en or ""} if d.label else {}
            known = v.dimension_labels.setdefault(d.name, {})
            for k, t in labels.items():
                if t and k not in known:
                    known[k] = t
            for phrase in (d.name, d.name.replace("_", " "), *labels.values(), *d.synonyms):
                if phrase:
                    v.add(phrase, "dimension", d.name)
    for dim, items in values.items():
        v.values[dim] = list(items)
        for value in items:
            v.add(value, "value", f"{dim}={value}")
            if "_" in value:
                v.add(value.replace("_", " "), "value", f"{dim}={value}")
            for alias in VALUE_ALIASES.get(value, ()):
                v.add(alias, "value", f"{dim}={value}", weak=True)
    return v.compile()
