"""Compiled metric queries return the numbers a hand computation gives, on real DuckDB."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from metricloop.engine.query import MetricQuery
from metricloop.errors import MetricLoopError, UnsupportedError
from metricloop.service import MetricLoop


def frame(ml: MetricLoop, table: str) -> pd.DataFrame:
    con = duckdb.connect(str(ml.project.duckdb_path()), read_only=True)
    try:
        return con.execute(f"select * from {table}").df()
    finally:
        con.close()


def run(ml: MetricLoop, **kw: object) -> pd.DataFrame:
    return ml.query(MetricQuery(**kw)).to_pandas()  # type: ignore[arg-type]


@pytest.fixture
def data(tiny: MetricLoop) -> dict[str, pd.DataFrame]:
    out = {t: frame(tiny, t) for t in ("orders", "traffic")}
    tiny.close()
    return out


def test_group_by_month_and_region(tiny: MetricLoop, data: dict[str, pd.DataFrame]) -> None:
    got = run(tiny, metrics=["gmv", "orders", "buyers"], group_by=["region"], grain="month")
    o = data["orders"]
    exp = (
        o.groupby([o.order_time.dt.to_period("M").dt.start_time, "region"])
        .agg(gmv=("amount", "sum"), orders=("order_id", "count"), buyers=("buyer_id", "nunique"))
        .reset_index()
    )
    assert list(got.columns) == ["metric_time__month", "region", "gmv", "orders", "buyers"]
    assert got["gmv"].round(6).tolist() == exp["gmv"].round(6).tolist()
    assert got["orders"].tolist() == exp["orders"].tolist()
    assert got["buyers"].tolist() == exp["buyers"].tolist()


def test_ratio_across_two_models_with_filter(tiny: MetricLoop, data: dict[str, pd.DataFrame]) -> None:
    got = run(tiny, metrics=["conversion_rate", "aov"], group_by=["channel"], where="region = '华东'")
    o, t = data["orders"], data["traffic"]
    o, t = o[o.region == "华东"], t[t.region == "华东"]
    cr = o.groupby("channel").order_id.count() / t.groupby("channel").sessions.sum()
    aov = o.groupby("channel").amount.sum() / o.groupby("channel").order_id.count()
    assert got.set_index("channel")["conversion_rate"].round(12).to_dict() == cr.round(12).to_dict()
    assert got.set_index("channel")["aov"].round(9).to_dict() == aov.round(9).to_dict()


def test_metric_filter_and_time_range_inclusive_of_whole_periods(
    tiny: MetricLoop, data: dict[str, pd.DataFrame]
) -> None:
    got = run(tiny, metrics=["app_gmv", "gmv"], grain="day", start="2026-01-05", end="2026-01-07")
    o = data["orders"]
    o = o[(o.order_time >= "2026-01-05") & (o.order_time < "2026-01-08")]
    assert got["metric_time__day"].dt.strftime("%m-%d").tolist() == ["01-05", "01-06", "01-07"]
    exp = o[o.channel == "app"].groupby(o.order_time.dt.date).amount.sum()
    assert got["app_gmv"].round(6).tolist() == exp.round(6).tolist()


def test_offset_window_and_period_over_period(tiny: MetricLoop, data: dict[str, pd.DataFrame]) -> None:
    o = data["orders"]
    daily = o.groupby(o.order_time.dt.normalize()).amount.sum()
    got = run(tiny, metrics=["gmv", "gmv_wow"], grain="day", start="2026-01-20", end="2026-01-22")
    for _, row in got.iterrows():
        day = row["metric_time__day"]
        assert row["gmv_wow"] == pytest.approx(daily[day] - daily[day - pd.Timedelta(days=7)])
    cmp = run(tiny, metrics=["gmv"], grain="day", start="2026-01-20", end="2026-01-22", compare="last_week")
    assert cmp["gmv__prev"].tolist() == pytest.approx(
        [daily[d - pd.Timedelta(days=7)] for d in cmp["metric_time__day"]]
    )
    assert cmp["gmv__pct"].tolist() == pytest.approx(
        [
            (daily[d] - daily[d - pd.Timedelta(days=7)]) / daily[d - pd.Timedelta(days=7)]
            for d in cmp["metric_time__day"]
        ]
    )
    # without a time grouping, previous_period means the same number of days just before
    whole = run(tiny, metrics=["gmv"], start="2026-01-20", end="2026-01-22", compare="previous_period")
    assert whole["gmv__prev"][0] == pytest.approx(daily["2026-01-17":"2026-01-19"].sum())


def test_cumulative_window_and_month_to_date(tiny: MetricLoop, data: dict[str, pd.DataFrame]) -> None:
    o = data["orders"]
    daily = o.groupby(o.order_time.dt.normalize()).amount.sum()
    got = run(tiny, metrics=["gmv_7d", "gmv_mtd"], grain="day", start="2026-02-03", end="2026-02-05")
    for _, row in got.iterrows():
        d = row["metric_time__day"]
        assert row["gmv_7d"] == pytest.approx(daily[d - pd.Timedelta(days=6) : d].sum())
        assert row["gmv_mtd"] == pytest.approx(daily[dt.datetime(2026, 2, 1) : d].sum())


def test_dimension_through_an_entity_join(tiny: MetricLoop) -> None:
    con = duckdb.connect(str(tiny.project.duckdb_path()), read_only=True)
    exp = dict(
        con.execute(
            "select b.tier, sum(o.amount) from orders o left join buyers b on o.buyer_id = b.id group by 1"
        ).fetchall()
    )
    con.close()
    got = run(tiny, metrics=["gmv"], group_by=["buyer__tier"])
    assert got.set_index("buyer__tier")["gmv"].round(6).to_dict() == {k: round(v, 6) for k, v in exp.items()}
    # a plain name reaches a model one entity-hop away when it is unambiguous
    assert run(tiny, metrics=["gmv"], group_by=["tier"])["gmv"].sum() == pytest.approx(sum(exp.values()))


def test_order_and_limit(tiny: MetricLoop) -> None:
    got = run(tiny, metrics=["gmv"], group_by=["region"], order_by=["-gmv"], limit=2)
    assert len(got) == 2
    assert got["gmv"].is_monotonic_decreasing


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"metrics": ["gmvv"]}, "unknown metric 'gmvv' (did you mean 'gmv'?)"),
        ({"metrics": ["gmv"], "group_by": ["regoin"]}, "dimension 'regoin' is not available"),
        (
            {"metrics": ["conversion_rate"], "group_by": ["buyer__tier"]},
            "dimension 'buyer__tier' is not available for semantic model 'traffic'",
        ),
        ({"metrics": ["gmv"], "order_by": ["amount"]}, "cannot order by 'amount'"),
        ({"metrics": ["gmv"], "where": "region = '华东' or 1=1"}, "expected a dimension name"),
    ],
)
def test_bad_queries_fail_with_a_clear_message(tiny: MetricLoop, kw: dict[str, object], message: str) -> None:
    with pytest.raises(MetricLoopError) as err:
        tiny.query(MetricQuery(**kw))  # type: ignore[arg-type]
    assert message in str(err.value)


def test_capability_table_fails_loudly() -> None:
    from sqlglot import exp

    from metricloop.engine import dialects

    with pytest.raises(UnsupportedError, match="an exact percentile is not supported on mysql"):
        dialects.percentile(exp.column("x"), 0.9, "mysql")
    with pytest.raises(UnsupportedError):
        dialects.capabilities("oracle")


def test_compiled_sql_is_shown_and_cached(tiny: MetricLoop) -> None:
    q = MetricQuery(metrics=["gmv"], group_by=["region"], where="channel = 'app'")
    a, b = tiny.compile(q), tiny.compile(q)
    assert a is b
    assert "WHERE t0.channel = 'app'" in a.sql
