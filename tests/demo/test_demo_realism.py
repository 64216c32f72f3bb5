"""The demo company behaves like a real shop: realistic rates, seasons, weekdays, growth."""

from __future__ import annotations

from demo_sql import connect, one, rows

from metricloop.demo import DemoData

NORMAL = "timestamp '2026-03-02' and timestamp '2026-04-13'"  # six quiet weeks (no festival, no incident)


def test_orders_per_day_at_scale_one(recent: DemoData, two_years: DemoData) -> None:
    con = connect(recent)
    (per_day,) = one(con, f"select count(*) / 42 from orders where order_time between {NORMAL}")
    assert 4000 < per_day < 7000
    # over the whole default range the mean is ~5000/day at scale 1 (here scale 0.05)
    (mean,) = one(connect(two_years), "select count(*) / count(distinct order_time::date) / 0.05 from orders")
    assert 4000 < mean < 6000


def test_conversion_rate_by_channel_is_realistic(recent: DemoData) -> None:
    con = connect(recent)
    rates = dict(
        rows(
            con,
            f"""
            select o.channel, o.n / t.s from
              (select channel, count(*) n from orders where order_time between {NORMAL} group by 1) o
              join (select channel, sum(sessions) s from traffic where hour between {NORMAL} group by 1) t
              using (channel)
            """,
        )
    )
    assert set(rates) == {"app", "web", "mini_program", "store"}
    assert all(0.02 <= r <= 0.065 for r in rates.values()), rates
    assert rates["web"] < rates["mini_program"] < rates["app"]


def test_payment_delivery_and_refund_rates_are_realistic(recent: DemoData) -> None:
    con = connect(recent)
    (success,) = one(con, f"select sum(successes) / sum(attempts) from payments where hour between {NORMAL}")
    assert 0.97 <= success <= 0.99
    (on_time,) = one(con, f"select avg(on_time::int) from deliveries where ship_time between {NORMAL}")
    assert 0.92 <= on_time <= 0.97
    (refund,) = one(con, f"select avg(is_refunded::int) from orders where order_time between {NORMAL}")
    assert 0.03 <= refund <= 0.06
    by_category = dict(rows(con, "select category, avg(is_refunded::int) from orders group by 1"))
    assert max(by_category, key=lambda k: by_category[k]) == "服饰"
    sql = f"select avg((buyer_type = 'new')::int) from orders where order_time between {NORMAL}"
    (new_share,) = one(con, sql)
    assert 0.15 < new_share < 0.4


def test_order_value_depends_on_category(recent: DemoData) -> None:
    con = connect(recent)
    sql = f"select category, avg(amount) from orders where order_time between {NORMAL} group by 1"
    aov = dict(rows(con, sql))
    assert aov["家电"] > aov["数码"] > aov["服饰"] > aov["食品"]
    assert 20 < aov["食品"] < 300
    assert 800 < aov["家电"] < 5000


def test_double_eleven_dwarfs_a_normal_day(two_years: DemoData) -> None:
    con = connect(two_years)
    gmv = dict(rows(con, "select order_time::date::varchar, sum(amount) from orders group by 1"))
    for year in (2024, 2025):
        normal = sorted(gmv[f"{year}-10-{d:02d}"] for d in range(8, 18))[5]
        assert gmv[f"{year}-11-11"] > 3 * normal
        # the pre-sale ramps up before the day
        assert gmv[f"{year}-11-10"] > 1.3 * normal
    for year in (2025, 2026):
        normal = sorted(gmv[f"{year}-05-{d:02d}"] for d in range(5, 15))[5]
        assert gmv[f"{year}-06-18"] > 2 * normal


def test_spring_festival_is_quiet(two_years: DemoData) -> None:
    con = connect(two_years)
    orders = dict(rows(con, "select order_time::date::varchar, count(*) from orders group by 1"))
    for cny, before in (("2025-01-29", "2025-01-0"), ("2026-02-17", "2026-01-1")):
        normal = sum(orders[f"{before}{d}"] for d in range(1, 8)) / 7
        assert orders[cny] < 0.7 * normal


def test_midnight_rush_on_double_eleven_and_quiet_nights(recent: DemoData, two_years: DemoData) -> None:
    con = connect(two_years)
    sql = "select hour(order_time), count(*) from orders where order_time::date = '2025-11-11' group by 1"
    by_hour = dict(rows(con, sql))
    assert by_hour[0] > 2 * by_hour[12]
    con = connect(recent)
    sql = f"select hour(order_time), count(*) from orders where order_time between {NORMAL} group by 1"
    shape = dict(rows(con, sql))
    assert shape[4] < 0.2 * shape[21]


def test_weekly_pattern_differs_by_channel(recent: DemoData) -> None:
    con = connect(recent)
    per_day = dict(
        rows(
            con,
            f"""select channel || '-' || (isodow(order_time) >= 6)::int,
                       count(*) / count(distinct order_time::date)
                from orders where order_time between {NORMAL} group by 1""",
        )
    )
    assert per_day["store-1"] > 1.2 * per_day["store-0"]
    assert per_day["web-1"] < per_day["web-0"]


def test_growth_and_channel_drift(two_years: DemoData) -> None:
    con = connect(two_years)
    by_month = {
        (m, ch): n
        for m, ch, n in rows(
            con, "select strftime(order_time, '%Y-%m'), channel, count(*) from orders group by all"
        )
    }
    def total(month: str) -> float:
        return sum(n for (m, _), n in by_month.items() if m == month)

    assert total("2026-09") > 1.1 * total("2025-09")
    share_start = by_month[("2024-10", "mini_program")] / total("2024-10")
    share_end = by_month[("2026-09", "mini_program")] / total("2026-09")
    assert share_end > share_start + 0.05
