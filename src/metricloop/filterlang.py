"""The filter language: small, documented, and with no path to arbitrary SQL.

Grammar (keywords are case-insensitive)::

    filter     := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" filter ")" | predicate
    predicate  := dim op value
                | dim                      (a boolean dimension on its own: ``dim = true``, as in MetricFlow)
                | dim ["not"] "in" "(" value ("," value)* ")"
                | dim "is" ["not"] "null"
                | dim ["not"] "between" value "and" value
                | dim ["not"] "like" string
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value      := 'text' (quote doubled inside: 'O''Brien') | number | true | false
    dim        := name | entity__name | metric_time__<grain> | {{ Dimension('x') }} | {{ TimeDimension('x', 'grain') }}
                | {{ Metric('m', group_by=['entity']) }}   (metric m per entity, joined on that entity)

Examples: ``region = '华东' and channel in ('app', 'web')``,
``not (is_refunded = true) and amount >= 100``, ``order_time >= '2026-01-01'``,
``{{ Metric('orders', group_by=['buyer']) }} >= 3`` (rows of buyers with at least 3 orders).

The parser builds a typed AST; the compiler (:mod:`metricloop.engine.filters`) turns dimension
names into columns it resolved itself and values into SQL literals. A user's text never reaches
SQL as text. The grammar sits at the core level, below the catalog (which validates the filters
in definitions with it) and the engine (which compiles them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Union

from metricloop.errors import QueryError
from metricloop.secrets import quote_input

#: How deep parentheses and ``not`` may nest: far above any real filter, far below Python's stack.
MAX_DEPTH = 50
#: The longest filter a request may send (``where`` of a query); a real one is a few hundred characters.
MAX_FILTER_CHARS = 4000


class FilterSyntaxError(QueryError):
    """The filter text does not follow the grammar; the message shows where."""


Value = str | int | float | bool


@dataclass(frozen=True)
class Compare:
    dim: str
    op: str
    value: Value


@dataclass(frozen=True)
class InList:
    dim: str
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    dim: str
    negated: bool = False


@dataclass(frozen=True)
class Between:
    dim: str
    low: Value
    high: Value
    negated: bool = False


@dataclass(frozen=True)
class Like:
    dim: str
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Union[Compare, InList, IsNull, Between, Like, And, Or, Not]  # noqa: UP007 (forward references)
Predicate = (Compare, InList, IsNull, Between, Like)


@dataclass(frozen=True)
class MetricRef:
    """``{{ Metric('bookings', group_by=['listing']) }}``: a metric's value per entity, used as a
    filter operand (MetricFlow's metric filters). Stands in a predicate as :attr:`key`."""

    name: str
    group_by: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"Metric:{self.name}|{','.join(self.group_by)}"

    def join_keys(self) -> tuple[str, ...]:
        """What the outer rows join on: the entity each group-by ends with (``view__listing`` → ``listing``)."""
        return tuple(g.split("__")[-1] for g in self.group_by)


def metric_ref(dim: str) -> MetricRef | None:
    """The metric reference a predicate's ``dim`` stands for, or None for a dimension."""
    if not dim.startswith("Metric:"):
        return None
    name, _, by = dim[7:].partition("|")
    return MetricRef(name, tuple(b for b in by.split(",") if b))


@dataclass(frozen=True)
class Filter:
    """A parsed filter: the AST plus the text it came from (for messages and hashing)."""

    root: Node
    text: str

    def identifiers(self) -> set[str]:
        """The dimensions the filter reads (for a metric operand: the entities it joins on)."""
        out: set[str] = set()
        for p in walk(self.root):
            if isinstance(p, Predicate):
                ref = metric_ref(p.dim)
                out.update(ref.join_keys() if ref is not None else (p.dim,))
        return out

    def metric_refs(self) -> list[MetricRef]:
        refs = [metric_ref(p.dim) for p in walk(self.root) if isinstance(p, Predicate)]
        return [r for r in refs if r is not None]

    def predicates(self) -> Iterator[Node]:
        return (p for p in walk(self.root) if isinstance(p, Predicate))


def walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, And | Or):
        for item in node.items:
            yield from walk(item)
    elif isinstance(node, Not):
        yield from walk(node.item)


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<template>\{\{[^{}]{0,1000}\}\})
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<op><=|>=|<>|!=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    """,
    re.VERBOSE | re.DOTALL,
)
_TEMPLATE = re.compile(
    r"""^\{\{\s*(?P<kind>Dimension|TimeDimension|Entity)\(\s*'(?P<name>[A-Za-z0-9_]+)'
        (?:\s*,\s*'(?P<grain>[A-Za-z_]+)')?\s*\)(?:\.grain\(\s*'(?P<grain2>[A-Za-z_]+)'\s*\))?\s*\}\}$""",
    re.VERBOSE,
)
_METRIC = re.compile(
    r"""^\{\{\s*Metric\(\s*['"](?P<name>[A-Za-z0-9_]+)['"]\s*
        (?:,\s*(?:group_by\s*=\s*)?\[(?P<by>[^\]]*)\])?\s*\)\s*\}\}$""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "is", "null", "between", "like", "true", "false"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise FilterSyntaxError(
                f"unexpected character {text[pos]!r} at position {pos + 1} in filter {quote_input(text)}",
                zh=f"过滤条件 {quote_input(text)} 第 {pos + 1} 个字符 {text[pos]!r} 无法识别",
            )
        kind = m.lastgroup or ""
        if kind != "ws":
            tok = m.group()
            if kind == "template":
                tm = _TEMPLATE.match(tok)
                mm = _METRIC.match(tok)
                if mm:
                    by = tuple(re.findall(r"['\"]([A-Za-z0-9_]+)['\"]", mm.group("by") or ""))
                    if not by:
                        raise FilterSyntaxError(
                            f"{tok}: a metric in a filter needs group_by=['entity'] (what its value is per)",
                            zh=f"{tok}：过滤条件中的指标需要 group_by=['实体']",
                        )
                    toks.append(_Tok("word", MetricRef(mm.group("name"), by).key, pos))
                    pos = m.end()
                    continue
                if not tm:
                    raise FilterSyntaxError(
                        f"unsupported template {quote_input(tok)}: use Dimension('x'), "
                        "TimeDimension('x', 'grain') or Entity('x')",
                        zh=f"不支持的模板 {quote_input(tok)}：请用 Dimension('x')、"
                           "TimeDimension('x', 'grain') 或 Entity('x')",
                    )
                grain = tm.group("grain") or tm.group("grain2")
                name = tm.group("name") + (f"__{grain.lower()}" if grain else "")
                toks.append(_Tok("word", name, pos))
            elif kind == "word" and tok.lower() in KEYWORDS:
                toks.append(_Tok("kw", tok.lower(), pos))
            else:
                toks.append(_Tok(kind, tok, pos))
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    def deeper(self) -> None:
        """Enter one more '(' or 'not'; past :data:`MAX_DEPTH` a clear error, never a RecursionError."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            pos = self.toks[self.i].pos + 1
            raise FilterSyntaxError(
                f"filter nests deeper than {MAX_DEPTH} levels of parentheses or 'not' at position {pos}: "
                "flatten it (a in (...) lists values; and/or chains need no parentheses)",
                zh=f"过滤条件在第 {pos} 个字符处嵌套超过 {MAX_DEPTH} 层（括号或 not），请简化",
            )

    def fail(self, expected: str) -> FilterSyntaxError:
        if self.i < len(self.toks):
            tok = self.toks[self.i]
            got, where = quote_input(tok.text, 40), f"position {tok.pos + 1}"
        else:
            got, where = "end of filter", "the end"
        return FilterSyntaxError(
            f"expected {expected} at {where} of filter {quote_input(self.text)}, got {got}",
            zh=f"过滤条件 {quote_input(self.text)} 在{where}处应为 {expected}，实际为 {got}",
        )

    def peek(self, kind: str, text: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        tok = self.toks[self.i]
        return tok.kind == kind and (text is None or tok.text == text)

    def take(self, kind: str, text: str | None = None, expected: str | None = None) -> _Tok:
        if not self.peek(kind, text):
            raise self.fail(expected or text or kind)
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> Node:
        if not self.toks:
            raise FilterSyntaxError("empty filter", zh="过滤条件为空")
        node = self.or_()
        if self.i != len(self.toks):
            raise self.fail("'and', 'or' or the end")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.peek("kw", "or"):
            self.i += 1
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.peek("kw", "and"):
            self.i += 1
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> Node:
        if self.peek("kw", "not"):
            self.deeper()
            self.i += 1
            inner = self.not_()
            self.depth -= 1
            return Not(inner)
        if self.peek("punct", "("):
            self.deeper()
            self.i += 1
            node = self.or_()
            self.take("punct", ")", "')'")
            self.depth -= 1
            return node
        return self.predicate()

    def value(self) -> Value:
        if self.peek("string"):
            return self.take("string").text[1:-1].replace("''", "'")
        if self.peek("number"):
            raw = self.take("number").text
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        if self.peek("kw", "true") or self.peek("kw", "false"):
            return self.take("kw").text == "true"
        raise self.fail("a value ('text', a number, true or false)")

    def predicate(self) -> Node:
        dim = self.take("word", expected="a dimension name").text
        if self.i == len(self.toks) or self.peek("punct", ")") or self.peek("kw", "and") or self.peek("kw", "or"):
            return Compare(dim, "=", True)  # a boolean dimension used as a condition
        if self.peek("op"):
            return Compare(dim, self.take("op").text.replace("<>", "!="), self.value())
        if self.peek("kw", "is"):
            self.i += 1
            negated = self.peek("kw", "not")
            if negated:
                self.i += 1
            self.take("kw", "null", "'null'")
            return IsNull(dim, negated)
        negated = self.peek("kw", "not")
        if negated:
            self.i += 1
        if self.peek("kw", "in"):
            self.i += 1
            self.take("punct", "(", "'('")
            values = [self.value()]
            while self.peek("punct", ","):
                self.i += 1
                values.append(self.value())
            self.take("punct", ")", "')'")
            return InList(dim, tuple(values), negated)
        if self.peek("kw", "between"):
            self.i += 1
            low = self.value()
            self.take("kw", "and", "'and'")
            return Between(dim, low, self.value(), negated)
        if self.peek("kw", "like"):
            self.i += 1
            tok = self.take("string", expected="a 'pattern'")
            return Like(dim, tok.text[1:-1].replace("''", "'"), negated)
        raise self.fail("an operator (=, !=, <, <=, >, >=, in, not in, is null, between, like)")


def parse_filter(text: str) -> Filter:
    """Parse filter text into an AST; raise FilterSyntaxError saying what was expected where."""
    return Filter(_Parser(text).parse(), text)


def quote(value: object) -> str:
    """A value as a filter-language text literal (quotes doubled): what :func:`parse_filter` reads back."""
    return "'" + str(value).replace("'", "''") + "'"


def slice_filter(slice_: Mapping[str, object]) -> str | None:
    """``{"region": "华东", "channel": "app"}`` → ``channel = 'app' and region = '华东'`` (None for no slice)."""
    return " and ".join(f"{k} = {quote(v)}" for k, v in sorted(slice_.items())) or None


def combine(filters: list[Filter]) -> Filter | None:
    if not filters:
        return None
    if len(filters) == 1:
        return filters[0]
    return Filter(And(tuple(f.root for f in filters)), " and ".join(f"({f.text})" for f in filters))
