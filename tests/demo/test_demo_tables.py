"""Schema, value domains and internal consistency of the generated tables."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from demo_sql import connect, one, rows

from metricloop.demo import DemoData, generate
from metricloop.demo import company as co

STRING = "string"
SCHEMAS: dict[str, dict[str, str]] = {
    "orders": {
        "order_id": "int64", "order_time": "timestamp[us]", "buyer_id": "int64", "region": STRING,
        "province": STRING, "channel": STRING, "category": STRING, "payment_method": STRING,
        "buyer_type": STRING, "items": "int32", "amount": "double", "discount": "double",
        "paid_amount": "double", "is_refunded": "bool", "refund_amount": "double",
    },
    "traffic": {
        "hour": "timestamp[us]", "region": STRING, "province": STRING, "channel": STRING,
        "sessions": "int64", "visitors": "int64",
    },
    "payments": {
        "hour": "timestamp[us]", "region": STRING, "province": STRING, "channel": STRING,
        "payment_method": STRING, "attempts": "int64", "successes": "int64",
    },
    "deliveries": {
        "order_id": "int64", "order_time": "timestamp[us]", "region": STRING, "province": STRING,
        "channel": STRING, "category": STRING, "carrier": STRING, "ship_time": "timestamp[us]",
        "promised_time": "timestamp[us]", "delivered_time": "timestamp[us]", "on_time": "bool",
    },
}  # fmt: skip


def _type_name(t: pa.DataType) -> str:
    # strings are dictionary-encoded; DuckDB and Parquet readers see them as VARCHAR
    if pa.types.is_dictionary(t):
        assert pa.types.is_string(t.value_type)
        return STRING
    return str(t)


def test_tables_have_the_agreed_columns_and_types(recent: DemoData) -> None:
    for name, table in recent.tables().items():
        got = {f.name: _type_name(f.type) for f in table.schema}
        assert got == SCHEMAS[name], name


def test_duckdb_sees_varchar_and_timestamp(recent: DemoData) -> None:
    con = connect(recent)
    types = dict(rows(con, "select column_name, column_type from (describe orders)"))
    assert types["province"] == "VARCHAR"
    assert types["order_time"] == "TIMESTAMP"


def test_only_delivery_outcomes_may_be_null(recent: DemoData) -> None:
    for name, table in recent.tables().items():
        for col in table.column_names:
            if (name, col) in {("deliveries", "delivered_time"), ("deliveries", "on_time")}:
                continue
            assert table[col].null_count == 0, f"{name}.{col}"
    # parcels still on the way at the end of the range have no delivery time yet
    d = recent.deliveries
    assert 0 < d["delivered_time"].null_count < d.num_rows * 0.01


def test_dimension_values_are_the_documented_ones(recent: DemoData) -> None:
    con = connect(recent)
    domains = {
        "region": co.REGIONS, "province": co.PROVINCES, "channel": co.CHANNELS,
        "category": co.CATEGORIES, "payment_method": co.PAYMENT_METHODS, "buyer_type": co.BUYER_TYPES,
    }  # fmt: skip
    for col, values in domains.items():
        seen = {r[0] for r in rows(con, f"select distinct {col} from orders")}
        assert seen == set(values), col
    carriers = {r[0] for r in rows(con, "select distinct carrier from deliveries")}
    assert carriers == set(co.CARRIERS)


def test_province_always_lies_in_its_region(recent: DemoData) -> None:
    con = connect(recent)
    expected = {
        "华东": {"上海", "江苏", "浙江", "安徽", "山东", "福建"},
        "华北": {"北京", "天津", "河北", "山西"},
        "华南": {"广东", "广西", "海南"},
        "华中": {"湖北", "湖南", "河南"},
        "西南": {"四川", "重庆", "云南", "贵州"},
        "西北": {"陕西", "甘肃", "新疆"},
        "东北": {"辽宁", "吉林", "黑龙江"},
    }
    for table in ("orders", "traffic", "payments", "deliveries"):
        pairs = rows(con, f"select distinct region, province from {table}")
        for region, province in pairs:
            assert province in expected[region], (table, region, province)


def test_order_values_are_consistent(recent: DemoData) -> None:
    con = connect(recent)
    bad = one(con, """
        select
          count(*) filter (where items < 1) as items,
          count(*) filter (where amount <= 0 or discount < 0 or discount > amount) as amounts,
          count(*) filter (where abs(paid_amount - (amount - discount)) > 0.011) as paid,
          count(*) filter (where is_refunded and (refund_amount <= 0 or refund_amount > paid_amount + 0.01))
            as refunds,
          count(*) filter (where not is_refunded and refund_amount <> 0) as not_refunded,
          count(*) - count(distinct order_id) as duplicate_ids,
          count(*) filter (where minute(order_time) not between 0 and 59
                           or second(order_time) <> 0) as resolution
        from orders
        """)
    assert bad == (0, 0, 0, 0, 0, 0, 0)


def test_payments_add_up_to_orders(recent: DemoData) -> None:
    """Every order is exactly one successful payment in its hour, province, channel and method."""
    con = connect(recent)
    mismatches = one(con, """
        with o as (select date_trunc('hour', order_time) as hour, province, channel, payment_method,
                          count(*) as n from orders group by all)
        select count(*) from payments p full join o using (hour, province, channel, payment_method)
        where coalesce(p.successes, 0) <> coalesce(o.n, 0) or p.successes > p.attempts
        """)
    assert mismatches == (0,)


def test_traffic_is_consistent(recent: DemoData) -> None:
    con = connect(recent)
    row = one(con, """
        select count(*) filter (where visitors > sessions or visitors < 1 or sessions < 1),
               count(*) filter (where channel = 'store' and (hour(hour) < 10 or hour(hour) >= 23))
        from traffic
        """)
    assert row == (0, 0)


def test_deliveries_follow_their_orders(recent: DemoData) -> None:
    con = connect(recent)
    row = one(con, """
        select
          count(*) filter (where o.order_id is null) as orphan,
          count(*) filter (where d.channel = 'store') as store,
          count(*) filter (where d.ship_time < d.order_time or d.delivered_time < d.ship_time) as sequence,
          count(*) filter (where d.on_time <> (d.delivered_time <= d.promised_time)) as on_time_flag,
          count(*) filter (where d.order_time <> o.order_time or d.province <> o.province
                           or d.category <> o.category) as copied
        from deliveries d left join orders o using (order_id)
        """)
    assert row == (0, 0, 0, 0, 0)
    # every shipped-channel order placed well before the end has been shipped
    missing = one(con, """
        select count(*) from orders o anti join deliveries d using (order_id)
        where o.channel <> 'store' and o.order_time < timestamp '2026-09-25'
        """)
    assert missing == (0,)


def test_new_buyers_appear_first_as_new(recent: DemoData) -> None:
    """A buyer marked ``new`` has no earlier order and is new only once; buyers really return."""
    con = connect(recent)
    row = one(con, """
        with ranked as (
          select buyer_id, buyer_type,
                 row_number() over (partition by buyer_id order by order_time, order_id) as k
          from orders)
        select count(*) filter (where buyer_type = 'new' and k > 1) from ranked
        """)
    assert row == (0,)
    repeat_share, orders_per_buyer = one(con, """
        select avg((n >= 2)::int), avg(n) from (select buyer_id, count(*) n from orders group by 1)
        """)
    assert 0.2 < repeat_share < 0.7
    assert 1.3 < orders_per_buyer < 4.0
    april = "order_time >= '2026-04-01' and order_time < '2026-05-01'"
    (monthly,) = one(con, f"select count(distinct buyer_id) / count(*) from orders where {april}")
    assert 0.5 < monthly < 0.95


def test_same_seed_same_data_other_seed_other_data() -> None:
    start, end = date(2026, 4, 10), date(2026, 4, 20)
    a, b, c = (generate(start, end, seed=s, scale=0.05) for s in (7, 7, 8))
    for name in a.tables():
        assert a.tables()[name].equals(b.tables()[name]), name
    assert a.ground_truth() == b.ground_truth()
    assert not a.orders.equals(c.orders)
    assert a.orders.num_rows != c.orders.num_rows or not a.orders["amount"].equals(c.orders["amount"])


def test_scale_changes_volume_not_shape() -> None:
    small, big = (generate(date(2026, 4, 1), date(2026, 4, 15), seed=1, scale=s) for s in (0.1, 0.4))
    ratio = big.orders.num_rows / small.orders.num_rows
    assert 3.5 < ratio < 4.5


@pytest.mark.parametrize(
    ("start", "end"), [(date(2026, 1, 2), date(2026, 1, 1)), (date(2026, 1, 1), date(2026, 1, 1))]
)
def test_empty_or_inverted_range_is_refused(start: date, end: date) -> None:
    from metricloop.errors import ConfigError

    with pytest.raises(ConfigError, match="start"):
        generate(start, end)
