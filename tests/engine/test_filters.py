"""The filter language parses what it documents and nothing else: no path from input to SQL."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from metricloop.engine.filters import (
    And,
    Between,
    Compare,
    FilterSyntaxError,
    InList,
    IsNull,
    Like,
    Not,
    Or,
    parse_filter,
    to_sql,
)


def sql(text: str) -> str:
    tree = parse_filter(text)
    return to_sql(tree.root, lambda name: (exp.column(name, table="t"), name == "ts")).sql("duckdb")


def test_documented_forms_parse() -> None:
    f = parse_filter("region = '华东' and channel in ('app', 'web')")
    assert f.root == And((Compare("region", "=", "华东"), InList("channel", ("app", "web"))))
    assert parse_filter("not (a = 1 or b != 2.5)").root == Not(Or((Compare("a", "=", 1), Compare("b", "!=", 2.5))))
    assert parse_filter("x is not null").root == IsNull("x", negated=True)
    assert parse_filter("x not between 1 and 3").root == Between("x", 1, 3, negated=True)
    assert parse_filter("name like 'O''Br%'").root == Like("name", "O'Br%")
    assert parse_filter("flag = TRUE").root == Compare("flag", "=", True)
    assert parse_filter("{{ Dimension('booking__is_instant') }} = true").identifiers() == {"booking__is_instant"}
    assert parse_filter("{{ TimeDimension('metric_time', 'month') }} >= '2020-01-01'").identifiers() == {
        "metric_time__month"
    }


def test_values_become_literals_and_quotes_are_escaped() -> None:
    assert sql("region = 'a''b' and ts >= '2026-01-01'") == (
        "t.region = 'a''b' AND t.ts >= CAST('2026-01-01' AS TIMESTAMP)"
    )


@pytest.mark.parametrize(
    "attack",
    [
        "region = '华东'; drop table orders",
        "region = '华东' or 1 = 1",
        "region = '华东' -- comment",
        "region = (select max(region) from orders)",
        "region = region",
        "1 = 1",
        "region = '华东' union select * from users",
        "sleep(5) = 0",
        "region in (select region from orders)",
        "region = '华东\\' or '1'='1",
        'region = "华东"',
        "region = '华东' /* x */",
    ],
)
def test_injection_attempts_are_rejected(attack: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse_filter(attack)


def test_error_says_what_was_expected_and_where() -> None:
    with pytest.raises(FilterSyntaxError) as err:
        parse_filter("region = '华东' and")
    assert "expected a dimension name at the end of filter" in str(err.value)
    with pytest.raises(FilterSyntaxError) as err:
        parse_filter("region == 'x'")
    assert "position 9" in str(err.value)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *"abc_ ='\"();-,*/\\01 \n",
                " and ",
                " or ",
                " in ",
                "not ",
                "select ",
                "华东",
                "drop ",
                " is null",
                " between ",
            ]
        ),
        max_size=25,
    ).map("".join)
)
def test_any_text_either_parses_into_the_ast_or_is_rejected(text: str) -> None:
    try:
        f = parse_filter(text)
    except FilterSyntaxError:
        return
    out = to_sql(f.root, lambda name: (exp.column(name, table="t"), False))
    # every column in the generated SQL is one the resolver produced; no statement keywords leak through
    assert {c.table for c in out.find_all(exp.Column)} == {"t"}
    assert not list(out.find_all(exp.Select, exp.Subquery, exp.Anonymous))


def test_a_slice_becomes_a_filter_that_parses_back_to_its_values() -> None:
    from metricloop.engine.filters import slice_filter

    text = slice_filter({"region": "华东", "store": "O'Brien's"})
    assert text == "region = '华东' and store = 'O''Brien''s'"
    assert parse_filter(text).root == And((Compare("region", "=", "华东"), Compare("store", "=", "O'Brien's")))
    assert slice_filter({}) is None
