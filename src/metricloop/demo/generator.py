"""Seeded generator of the demo company's data, incidents injected on top of a counterfactual.

How a day of business is produced (all vectorised over hour x province x channel cells):

1. expected sessions per cell = base level x trend x season x weekday x festivals x hour shape
   x province size x channel share, with day-level and cell-level noise (negative binomial);
2. checkouts = Binomial(sessions, conversion); each checkout becomes one row;
3. each row draws its category, payment method, payment attempts (retries on failure), order
   value, discount, refund, new/returning buyer, then delivery times (non-store channels);
4. returning buyers are picked from the province's pool of earlier buyers, so distinct-buyer
   counts are meaningful; a buyer's first order in the data is marked ``new`` unless the buyer
   pre-dates the range.

Incidents never redraw anything: every row carries both the counterfactual outcome and the
incident outcome from the *same* random numbers (thinning for drops, extra rows for spikes,
shared uniforms for payments, refunds and transit). So the realised effect of an incident is
measured exactly as (world with incidents) / (world without) - 1 in its slice and window.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import ndtr

from metricloop.demo import company as co
from metricloop.demo.calendar import (
    REFERENCE_END,
    REFERENCE_START,
    Days,
    build_days,
    expected_orders_per_day,
)
from metricloop.demo.incidents import DEFAULT_INCIDENTS, DIM_VALUES, IncidentSpec, payment_outcome
from metricloop.errors import ConfigError
from metricloop.i18n import Text

ORDERS_PER_DAY = 5000.0  # mean orders per day over the reference period at scale 1.0
BUYER_POOL = 1_500_000  # buyers known before the range starts, at scale 1.0
BUYER_ID_BASE = 10_000_000
ORDER_ID_BASE = 1_000_000_000
LOYAL_SHARE = 0.3  # returning orders placed by long-standing loyal buyers
REPEAT_DAYS = 25.0  # other returning orders repeat a buyer seen this many days back on average
P, C, K, M = len(co.PROVINCES), len(co.CHANNELS), len(co.CATEGORIES), len(co.PAYMENT_METHODS)
STORE = co.CHANNELS.index("store")

# Named random streams: adding a stream at the end never changes the others.
_STREAMS = (
    "day_noise", "cell_noise", "sessions", "checkouts", "category", "payment", "thinning",
    "spikes", "attributes", "buyers", "delivery", "visitors", "jitter",
)  # fmt: skip


@dataclass
class IncidentTruth:
    """The ground truth of one injected incident, as written to ``ground_truth.json``."""

    id: str
    kind: str
    start: datetime
    end: datetime
    metrics: list[str]
    slices: list[dict[str, str]]
    expected_change: dict[str, float]
    realised_change: dict[str, float | None]
    measured_on: dict[str, dict[str, str]]
    params: dict[str, float]
    description: Text
    tags: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "metrics": self.metrics,
            "slices": self.slices,
            "expected_change": self.expected_change,
            "realised_change": self.realised_change,
            "measured_on": self.measured_on,
            "params": self.params,
            "description": self.description.to_dict(),
            "tags": self.tags,
        }


@dataclass
class DemoData:
    """The generated tables (pyarrow) and the ground truth of the injected incidents."""

    orders: pa.Table
    traffic: pa.Table
    payments: pa.Table
    deliveries: pa.Table
    incidents: list[IncidentTruth]
    start: date
    end: date
    seed: int
    scale: float
    # the same tables without any incident (only when generate(counterfactual=True))
    counterfactual: dict[str, pa.Table] | None = None

    def tables(self) -> dict[str, pa.Table]:
        return {"orders": self.orders, "traffic": self.traffic, "payments": self.payments,
                "deliveries": self.deliveries}  # fmt: skip

    def ground_truth(self) -> list[dict[str, Any]]:
        return [i.to_dict() for i in self.incidents]


# --------------------------------------------------------------------------------------------
# small helpers


def _categorical(u: np.ndarray, cum: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one code per row: ``cum[group[i]]`` is row i's cumulative distribution.

    One pass per category keeps memory at O(rows) instead of O(rows x categories).
    """
    codes = np.zeros(len(u), dtype=np.int8)
    for k in range(cum.shape[1] - 1):
        codes += u >= cum[group, k]
    return codes


def _lognormal_noise(rng: np.random.Generator, sigma: float, shape: tuple[int, ...]) -> np.ndarray:
    """Mean-one multiplicative noise."""
    return np.exp(rng.normal(-sigma * sigma / 2, sigma, shape))


def _dim_codes(spec_slice: dict[str, str]) -> dict[str, int]:
    return {dim: DIM_VALUES[dim].index(v) for dim, v in spec_slice.items()}


def _province_mask(codes: dict[str, int]) -> np.ndarray:
    mask = np.ones(P, dtype=bool)
    if "region" in codes:
        mask &= co.PROVINCE_REGION_CODE == codes["region"]  # noqa: SIM300 (array on the left)
    if "province" in codes:
        mask &= np.arange(P) == codes["province"]
    return mask


def _channel_mask(codes: dict[str, int]) -> np.ndarray:
    return np.arange(C) == codes["channel"] if "channel" in codes else np.ones(C, dtype=bool)


def _round2(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


# --------------------------------------------------------------------------------------------
# the world: rows (checkouts) and cells (hour x province x channel), both outcomes side by side


@dataclass
class _World:
    """Internal arrays. ``*_cf`` = counterfactual (no incident), ``*_act`` = what happened."""

    H: int
    days: Days
    lam: np.ndarray  # (H*P*C,) expected sessions
    cr: np.ndarray  # (H*P*C,) conversion probability
    sessions_cf: np.ndarray
    sessions_act: np.ndarray
    visitors: np.ndarray
    # rows
    cell: np.ndarray
    base: np.ndarray  # row exists in the counterfactual
    act: np.ndarray  # row exists in reality
    hour: np.ndarray
    prov: np.ndarray
    chan: np.ndarray
    cat: np.ndarray
    method: np.ndarray
    minute: np.ndarray
    attempts_cf: np.ndarray
    attempts_act: np.ndarray
    paid_cf: np.ndarray
    paid_act: np.ndarray
    items: np.ndarray
    amount_cf: np.ndarray
    amount_act: np.ndarray
    discount_cf: np.ndarray
    discount_act: np.ndarray
    refunded_cf: np.ndarray
    refunded_act: np.ndarray
    refund_amount_cf: np.ndarray
    refund_amount_act: np.ndarray
    new: np.ndarray
    # filled by _assign_buyers (indexed like the rows; 0 for rows never paid)
    order_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    buyer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class _Shipments:
    """One entry per paid non-store row (``row`` indexes the world's rows); times in minutes."""

    row: np.ndarray
    carrier: np.ndarray
    ship: np.ndarray
    promised: np.ndarray
    delivered_cf: np.ndarray
    delivered_act: np.ndarray
    budget: np.ndarray  # hours from ship to promise
    median_cf: np.ndarray  # median transit hours without incidents
    median_act: np.ndarray
    extra_act: np.ndarray  # hours added by incidents


def _hours_of(spec: IncidentSpec, start: date) -> tuple[int, int]:
    origin = datetime(start.year, start.month, start.day)
    seconds = (spec.start - origin).total_seconds(), (spec.end - origin).total_seconds()
    return int(seconds[0]) // 3600, int(seconds[1]) // 3600


def _check_range(
    start: date, end: date, scale: float, incidents: tuple[IncidentSpec, ...] | None
) -> list[IncidentSpec]:
    """The incidents whose window lies inside [start, end); refuses a bad range or scale."""
    if not start < end:
        raise ConfigError(f"demo range: start {start} must be before end {end}",
                          zh=f"演示数据区间：开始日期 {start} 必须早于结束日期 {end}")  # fmt: skip
    if not 0 < scale <= 20:
        raise ConfigError(f"demo scale must be in (0, 20], got {scale}",
                          zh=f"演示数据规模须在 (0, 20] 内，实际为 {scale}")  # fmt: skip
    specs = DEFAULT_INCIDENTS if incidents is None else incidents
    H = (end - start).days * 24
    chosen = []
    for spec in specs:
        spec.check()
        h0, h1 = _hours_of(spec, start)
        if h0 >= 0 and h1 <= H:
            chosen.append(spec)
    return chosen


def generate(
    start: date = REFERENCE_START,
    end: date = REFERENCE_END,
    seed: int = 42,
    scale: float = 1.0,
    *,
    incidents: tuple[IncidentSpec, ...] | None = None,
    counterfactual: bool = False,
) -> DemoData:
    """Generate the demo company between ``start`` (inclusive) and ``end`` (exclusive).

    Incidents (default: :data:`DEFAULT_INCIDENTS`) whose window is not fully inside the range are
    left out of both the data and the ground truth. ``counterfactual=True`` also returns the
    tables as they would have been without any incident (tests use it to check the truth file).
    """
    chosen = _check_range(start, end, scale, incidents)
    seeds = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    rng = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seeds, strict=True)}

    world = _cells_and_rows(start, end, scale, chosen, rng)
    _assign_buyers(world, scale, rng["buyers"])
    ship = _deliveries(world, chosen, start, rng["delivery"])
    truths = [_truth(world, ship, spec, start) for spec in chosen]
    data = DemoData(
        orders=_orders_table(world, start, world.paid_act, actual=True),
        traffic=_traffic_table(world, start, world.sessions_act, world.visitors),
        payments=_payments_table(world, start, actual=True),
        deliveries=_deliveries_table(world, ship, start, end, actual=True),
        incidents=truths,
        start=start,
        end=end,
        seed=seed,
        scale=scale,
    )
    if counterfactual:
        # visitors scale with sessions in the counterfactual (they only matter for the act world)
        ratio = np.where(world.sessions_act > 0, world.visitors / np.maximum(world.sessions_act, 1), 0.8)
        vis_cf = np.minimum(np.round(world.sessions_cf * ratio), world.sessions_cf).astype(np.int64)
        data.counterfactual = {
            "orders": _orders_table(world, start, world.paid_cf, actual=False),
            "traffic": _traffic_table(world, start, world.sessions_cf, vis_cf),
            "payments": _payments_table(world, start, actual=False),
            "deliveries": _deliveries_table(world, ship, start, end, actual=False),
        }
    return data


# --------------------------------------------------------------------------------------------
# streaming: the same world, a chunk of days at a time

#: a range expected to hold at most this many checkouts is generated in one piece, exactly as
#: :func:`generate` (the default demo, scale 1, is 3.8 M); longer ranges go in chunks of
#: ``CHUNK_ROWS``, so memory stays bounded whatever the scale (about 300 bytes per row in flight)
ONE_PIECE_ROWS = 4_000_000
CHUNK_ROWS = 1_500_000
#: days kept between a chunk's start and an incident window: orders placed before the window
#: ship during it, and the truth of an on-time rate counts those shipments
INCIDENT_MARGIN_DAYS = 7

TableSink = Callable[[str, pa.Table], None]


def plan_chunks(
    start: date, end: date, scale: float, incidents: tuple[IncidentSpec, ...] | list[IncidentSpec] = ()
) -> list[tuple[date, date]]:
    """Whole-day chunks of about ``CHUNK_ROWS`` expected checkouts each (one chunk when the whole
    range holds at most ``ONE_PIECE_ROWS``); no cut falls inside an incident's window or in the
    ``INCIDENT_MARGIN_DAYS`` before it. A function of the range, scale and incidents only."""
    n_days = (end - start).days
    ref = build_days(REFERENCE_START, (REFERENCE_END - REFERENCE_START).days)
    base_level = ORDERS_PER_DAY * scale / expected_orders_per_day(ref).mean()
    per_day = expected_orders_per_day(build_days(start, n_days)) * base_level
    if per_day.sum() <= ONE_PIECE_ROWS:
        return [(start, end)]
    blocked = np.zeros(n_days + 1, dtype=bool)  # blocked[d]: no cut at the start of day d
    for spec in incidents:
        h0, h1 = _hours_of(spec, start)
        if h0 < 0 or h1 > 24 * n_days:  # not in the range: not generated
            continue
        first = max((h0 - 24 * INCIDENT_MARGIN_DAYS) // 24 + 1, 0)
        last = min(-(-h1 // 24) - 1, n_days)
        blocked[first:last + 1] = True
    cuts, acc = [0], 0.0
    for d in range(n_days):
        acc += float(per_day[d])
        if acc >= CHUNK_ROWS and d + 1 < n_days and not blocked[d + 1]:
            cuts.append(d + 1)
            acc = 0.0
    cuts.append(n_days)
    return [(start + timedelta(days=a), start + timedelta(days=b)) for a, b in itertools.pairwise(cuts)]


def stream(
    sink: TableSink,
    start: date = REFERENCE_START,
    end: date = REFERENCE_END,
    seed: int = 42,
    scale: float = 1.0,
    *,
    incidents: tuple[IncidentSpec, ...] | None = None,
) -> list[IncidentTruth]:
    """:func:`generate`, handing each table to ``sink(name, piece)`` a chunk of days at a time
    (:func:`plan_chunks`), so memory is bounded by a chunk, not the range; returns the truths.

    The random streams run on from chunk to chunk and ids continue, so the output depends on the
    seed, range and scale only; a range of one chunk gives exactly :func:`generate`'s tables.
    """
    chosen = _check_range(start, end, scale, incidents)
    seeds = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    rng = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seeds, strict=True)}
    carry = _Carry()
    truths: dict[str, IncidentTruth] = {}
    for c0, c1 in plan_chunks(start, end, scale, chosen):
        h_end = (c1 - c0).days * 24
        local = [spec for spec in chosen if _hours_of(spec, c0)[0] >= 0 and _hours_of(spec, c0)[1] <= h_end]
        world = _cells_and_rows(c0, c1, scale, local, rng)
        _assign_buyers(world, scale, rng["buyers"], carry)
        ship = _deliveries(world, local, c0, rng["delivery"])
        for spec in local:
            truths[spec.id] = _truth(world, ship, spec, c0)
        sink("orders", _orders_table(world, c0, world.paid_act, actual=True))
        sink("traffic", _traffic_table(world, c0, world.sessions_act, world.visitors))
        sink("payments", _payments_table(world, c0, actual=True))
        sink("deliveries", _deliveries_table(world, ship, c0, end, actual=True))
        del world, ship
    return [truths[spec.id] for spec in chosen]


# --------------------------------------------------------------------------------------------
# step 1-3: cells, checkouts, row attributes, incidents


def _cells_and_rows(
    start: date, end: date, scale: float, specs: list[IncidentSpec], rng: dict[str, np.random.Generator]
) -> _World:
    D = (end - start).days
    H = D * 24
    days = build_days(start, D)
    ref = build_days(REFERENCE_START, (REFERENCE_END - REFERENCE_START).days)
    base_level = ORDERS_PER_DAY * scale / expected_orders_per_day(ref).mean()

    h_idx = np.arange(H)
    d_of_h = h_idx // 24
    hod = h_idx % 24
    # (D, C) day level with noise: one national factor per day and one per day x channel
    day_level = base_level * days.sessions * days.channel_share
    day_level *= _lognormal_noise(rng["day_noise"], 0.03, (D, 1))
    day_level *= _lognormal_noise(rng["day_noise"], 0.04, (D, C))
    # (D, P, C) day x province x channel noise
    dpc = _lognormal_noise(rng["day_noise"], 0.07, (D, P, C))
    hour_w = days.hour_weights[d_of_h, :, hod]  # (H, C)
    lam3 = (day_level[d_of_h] * hour_w)[:, None, :] * co.PROVINCE_WEIGHT[None, :, None] * dpc[d_of_h]
    lam3 *= rng["cell_noise"].gamma(30.0, 1.0 / 30.0, lam3.shape)  # negative-binomial overdispersion
    cr = (
        co.CHANNEL_CONVERSION[None, None, :]
        * days.conversion[d_of_h][:, None, None]
        * co.REGION_CONVERSION[co.PROVINCE_REGION_CODE][None, :, None]
    ).reshape(-1)
    lam = lam3.reshape(-1)
    n_cells = lam.size

    sessions_cf = rng["sessions"].poisson(lam)
    checkouts_cf = rng["checkouts"].binomial(sessions_cf, cr)

    fx = _cell_effects(start, days, lam, cr, specs, rng["spikes"])
    add_checkouts, add_category, add_new = fx.add_checkouts, fx.add_category, fx.add_new
    sess_keep = fx.sess_keep

    # --- rows: one per checkout (counterfactual rows first in each cell, then extra rows) ----
    counts = checkouts_cf + add_checkouts
    cell = np.repeat(np.arange(n_cells, dtype=np.int64), counts)
    n = cell.size
    first = np.cumsum(counts) - counts
    base = (np.arange(n) - first[cell]) < checkouts_cf[cell]
    hour = (cell // (P * C)).astype(np.int32)
    prov = ((cell // C) % P).astype(np.int8)
    chan = (cell % C).astype(np.int8)
    day = hour // 24

    r = rng["category"]
    cat = _categorical(r.random(n), np.cumsum(days.category, axis=2).reshape(D * C, K), day * C + chan)
    forced = add_category[cell]
    cat = np.where(~base & (forced >= 0), forced, cat).astype(np.int8)
    method = _categorical(r.random(n), np.cumsum(days.payment, axis=2).reshape(D * C, M), day * C + chan)

    # thinning for drops: the same uniforms decide in both worlds
    t = rng["thinning"]
    session_kept = t.random(n) < sess_keep[cell]
    keep_p = fx.buy_keep[cell]
    for spec in specs:
        if spec.kind == "stock_out":
            rows = _row_mask(spec, start, hour, prov, chan, cat, method)
            keep_p = np.where(rows, keep_p * spec.params["orders"], keep_p)
    buy_kept = t.random(n) < keep_p
    act = ~base | (session_kept & buy_kept)
    sessions_act = (
        t.binomial(sessions_cf - checkouts_cf, sess_keep)
        + np.bincount(cell[base & session_kept], minlength=n_cells)
        + fx.add_sessions
    )

    # payments: geometric attempts until success, at most k tries (same uniforms in both worlds)
    pr = rng["payment"]
    jitter = np.clip(1.0 + rng["jitter"].normal(0.0, 0.003, (D, M)), 0.97, 1.01)
    p_cf = np.minimum(co.PAYMENT_SUCCESS[method] * jitter[day, method], 0.998)
    p_act = p_cf.copy()
    for spec in specs:
        if spec.kind == "payment_failure":
            rows = _row_mask(spec, start, hour, prov, chan, cat, method)
            p_act[rows] = spec.params["success"]
    u = 1.0 - pr.random(n)  # (0, 1]
    tries = 1 + np.searchsorted(np.cumsum(co.PAYMENT_TRIES)[:-1], pr.random(n), side="right")
    logu = np.log(u)
    first_ok_cf = 1 + np.floor(logu / np.log1p(-p_cf))
    first_ok_act = 1 + np.floor(logu / np.log1p(-p_act))
    attempts_cf = np.minimum(first_ok_cf, tries).astype(np.int8)
    attempts_act = np.minimum(first_ok_act, tries).astype(np.int8)
    paid_cf = base & (first_ok_cf <= tries)
    paid_act = act & (first_ok_act <= tries)
    del p_cf, p_act, u, logu, first_ok_cf, first_ok_act

    # order attributes
    a = rng["attributes"]
    minute = a.integers(0, 60, n).astype(np.int8)
    basket = days.basket[day]
    items = (1 + a.poisson(co.EXTRA_ITEMS[cat] * basket)).astype(np.int32)
    unit = co.UNIT_PRICE_MEDIAN[cat] * np.exp(co.UNIT_PRICE_SIGMA[cat] * a.standard_normal(n))
    amount_cf = _round2(np.maximum(unit * items**0.85 * basket, 1.0))
    frac = np.minimum(days.discount[day] * a.gamma(2.0, 0.5, n) / 0.6, 0.5) * (a.random(n) < 0.6)
    amount_act = amount_cf.copy()
    for spec in specs:
        if spec.kind == "price_error":
            rows = _row_mask(spec, start, hour, prov, chan, cat, method)
            amount_act[rows] = _round2(amount_cf[rows] * spec.params["amount"])
    discount_cf = _round2(amount_cf * frac)
    discount_act = _round2(amount_act * frac)
    p_refund = co.REFUND_RATE[cat] * days.refund[day]
    u_refund = a.random(n)
    refunded_cf = u_refund < p_refund
    for spec in specs:
        if spec.kind == "refund_surge":
            rows = _row_mask(spec, start, hour, prov, chan, cat, method)
            p_refund = np.where(rows, spec.params["refund_rate"], p_refund)
    refunded_act = u_refund < p_refund
    part = np.where(a.random(n) < 0.75, 1.0, 0.2 + 0.6 * a.random(n))
    refund_amount_cf = np.where(refunded_cf, _round2((amount_cf - discount_cf) * part), 0.0)
    refund_amount_act = np.where(refunded_act, _round2((amount_act - discount_act) * part), 0.0)
    p_new = co.CHANNEL_NEW_BUYER[chan] * days.new_buyer[day]
    extra_new = add_new[cell]
    p_new = np.where(~base & ~np.isnan(extra_new), extra_new, p_new)
    new = a.random(n) < p_new

    vr = rng["visitors"]
    ratio = co.CHANNEL_VISITOR_RATIO[np.arange(n_cells) % C]
    visitors = np.where(sessions_act > 0, 1 + vr.binomial(np.maximum(sessions_act - 1, 0), ratio), 0)

    return _World(
        H=H, days=days, lam=lam, cr=cr, sessions_cf=sessions_cf, sessions_act=sessions_act,
        visitors=visitors, cell=cell, base=base, act=act, hour=hour, prov=prov, chan=chan, cat=cat,
        method=method, minute=minute, attempts_cf=attempts_cf, attempts_act=attempts_act,
        paid_cf=paid_cf, paid_act=paid_act, items=items, amount_cf=amount_cf, amount_act=amount_act,
        discount_cf=discount_cf, discount_act=discount_act, refunded_cf=refunded_cf,
        refunded_act=refunded_act, refund_amount_cf=refund_amount_cf,
        refund_amount_act=refund_amount_act, new=new,
    )  # fmt: skip


@dataclass
class _CellEffects:
    """What incidents do to each hour x province x channel cell (flattened like ``lam``)."""

    sess_keep: np.ndarray  # share of sessions (and their checkouts) that still happen
    buy_keep: np.ndarray  # share of checkouts that still happen (sessions unchanged)
    add_sessions: np.ndarray  # extra sessions (campaign spikes)
    add_checkouts: np.ndarray  # extra checkouts (campaign spikes, bargain hunters)
    add_category: np.ndarray  # category forced on the extra checkouts, -1 = usual mix
    add_new: np.ndarray  # new-buyer share of the extra checkouts, NaN = usual share


def _cell_effects(
    start: date, days: Days, lam: np.ndarray, cr: np.ndarray, specs: list[IncidentSpec],
    rng: np.random.Generator,
) -> _CellEffects:  # fmt: skip
    n_cells = lam.size
    H = n_cells // (P * C)
    fx = _CellEffects(
        sess_keep=np.ones(n_cells),
        buy_keep=np.ones(n_cells),
        add_sessions=np.zeros(n_cells, dtype=np.int64),
        add_checkouts=np.zeros(n_cells, dtype=np.int64),
        add_category=np.full(n_cells, -1, dtype=np.int8),
        add_new=np.full(n_cells, np.nan),
    )
    for spec in specs:
        h0, h1 = _hours_of(spec, start)
        codes = _dim_codes(dict(spec.slice))
        pm, cm = _province_mask(codes), _channel_mask(codes)
        if spec.kind == "logistics_delay":
            cm = cm & (np.arange(C) != STORE)  # store orders are not shipped
        grid = np.zeros((H, P, C), dtype=bool)
        grid[h0:h1] = pm[:, None] & cm[None, :]
        cells = grid.reshape(-1)
        prm = spec.params
        if spec.kind == "traffic_drop":
            fx.sess_keep[cells] *= prm["sessions"]
        elif spec.kind == "logistics_delay":
            fx.buy_keep[cells] *= prm["orders"]
        elif spec.kind == "campaign_spike":
            extra = rng.poisson(lam[cells] * (prm["sessions"] - 1.0))
            fx.add_sessions[cells] += extra
            fx.add_checkouts[cells] += rng.binomial(extra, np.minimum(cr[cells] * prm["conversion"], 1.0))
            fx.add_new[cells] = prm["new_buyer"]
        elif spec.kind == "price_error":
            k = codes["category"]
            idx = np.flatnonzero(cells)
            share = days.category[idx // (P * C) // 24, idx % C, k]
            fx.add_checkouts[cells] += rng.poisson(lam[idx] * cr[idx] * share * (prm["orders"] - 1.0))
            fx.add_category[cells] = k
    return fx


def _row_mask(
    spec: IncidentSpec,
    start: date,
    hour: np.ndarray,
    prov: np.ndarray,
    chan: np.ndarray,
    cat: np.ndarray,
    method: np.ndarray,
) -> np.ndarray:
    """Rows (checkouts) inside the incident's window and slice."""
    h0, h1 = _hours_of(spec, start)
    codes = _dim_codes(dict(spec.slice))
    lo, hi = np.searchsorted(hour, [h0, h1])  # rows are in hour order
    mask = np.zeros(hour.size, dtype=bool)
    mask[lo:hi] = True
    mask &= _province_mask(codes)[prov]
    mask &= _channel_mask(codes)[chan]
    if "category" in codes:
        mask &= cat == codes["category"]
    if "payment_method" in codes:
        mask &= method == codes["payment_method"]
    return mask


# --------------------------------------------------------------------------------------------
# step 4: buyers


@dataclass
class _Carry:
    """What a chunk of days hands the next one (streaming generation): the order and new-buyer
    ids issued so far, and each province's recent buyers (oldest first) for repeat orders."""

    orders: int = 0
    new_buyers: int = 0
    history: list[np.ndarray] = field(default_factory=lambda: [np.zeros(0, dtype=np.uint32) for _ in range(P)])


HISTORY_MEANS = 8.0  # a chunk keeps this many mean repeat distances of history (e^-8 of repeats reach past it)


def _assign_buyers(w: _World, scale: float, rng: np.random.Generator, carry: _Carry | None = None) -> None:
    """Give every paid order (in either world) a buyer id and an order id.

    Orders are walked in (province, time) order. A ``new`` order mints the next buyer id. A
    returning order is either one of the long-standing loyal buyers of the province's initial
    pool, or a repeat of the buyer of an earlier order in the same province (a few weeks back on
    average). Copying earlier orders makes frequent buyers more frequent, as in real shops; the
    chains of copies are resolved at once by pointer jumping. With ``carry`` (a later chunk of
    days) ids continue from the earlier chunks and a repeat may reach into their recent buyers;
    without it (or with an empty one) the result is the one-piece generation's, draw for draw.
    """
    carry = carry if carry is not None else _Carry()
    rows = np.flatnonzero(w.paid_cf | w.paid_act)
    n = rows.size
    t = w.hour[rows].astype(np.int64) * 60 + w.minute[rows]
    time_key = (t << 20) | rng.integers(0, 1 << 20, n)
    order_id = np.zeros(len(w.cell), dtype=np.int64)
    order_id[rows[np.argsort(time_key, kind="stable")]] = ORDER_ID_BASE + carry.orders + np.arange(n)
    w.order_id = order_id

    pool0 = np.maximum(np.round(BUYER_POOL * scale * co.PROVINCE_WEIGHT), 1).astype(np.int64)
    pool_start = BUYER_ID_BASE + np.cumsum(pool0) - pool0
    prov = w.prov[rows].astype(np.int64)
    order = np.argsort((prov << 46) | time_key, kind="stable")
    rows_s, prov_s, new_s = rows[order], prov[order], w.new[rows[order]]
    # new buyers: ids in registration (global time) order
    new_pos = np.flatnonzero(new_s)
    reg_rank = np.empty(new_pos.size, dtype=np.int64)
    reg_rank[np.argsort(time_key[order][new_pos], kind="stable")] = np.arange(new_pos.size)
    buyer_s = np.zeros(n, dtype=np.int64)
    buyer_s[new_pos] = BUYER_ID_BASE + int(pool0.sum()) + carry.new_buyers + reg_rank
    # returning buyers: loyal pool member, or the buyer of an earlier order of the province
    pos = np.arange(n)
    prov_first = np.searchsorted(prov_s, np.arange(P))
    per_day = np.bincount(prov_s, minlength=P) / max(w.H / 24, 1.0)
    back = 1 + np.floor(rng.exponential(REPEAT_DAYS * per_day[prov_s])).astype(np.int64)
    target = pos - back
    before = target < prov_first[prov_s]
    by_chance = rng.random(n) < LOYAL_SHARE
    # a repeat of an order of an earlier chunk: that order's buyer, when still in the history
    hist_len = np.array([h.size for h in carry.history], dtype=np.int64)
    reach = prov_first[prov_s] - target  # how far before this chunk's first order of the province
    earlier = ~new_s & ~by_chance & before & (reach <= hist_len[prov_s])
    loyal = ~new_s & (by_chance | (before & ~earlier))
    pick = np.floor(pool0[prov_s] * rng.random(n) ** 2.5).astype(np.int64)
    buyer_s[loyal] = (pool_start[prov_s] + pick)[loyal]
    if earlier.any():
        flat = np.concatenate(carry.history)
        offset = np.cumsum(hist_len) - hist_len
        at = np.flatnonzero(earlier)
        buyer_s[at] = flat[offset[prov_s[at]] + hist_len[prov_s[at]] - reach[at]].astype(np.int64)
    ptr = np.where(new_s | loyal | earlier, pos, target)
    while True:  # pointer jumping: every order ends at the new, loyal or earlier order it repeats
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    resolved = buyer_s[ptr]
    buyer = np.zeros(len(w.cell), dtype=np.int64)
    buyer[rows_s] = resolved
    w.buyer = buyer
    carry.orders += n
    carry.new_buyers += int(new_pos.size)
    keep = np.ceil(HISTORY_MEANS * REPEAT_DAYS * per_day).astype(np.int64)
    if n and int(resolved.max()) >= 1 << 32:  # ids stay far below at any scale up to 20
        raise ConfigError("demo buyer ids overflow the history's 32 bits", zh="演示数据买家编号超出 32 位")
    for p in range(P):
        mine = resolved[prov_first[p]:prov_first[p + 1] if p + 1 < P else n].astype(np.uint32)
        carry.history[p] = np.concatenate([carry.history[p], mine])[-max(int(keep[p]), 1):]


# --------------------------------------------------------------------------------------------
# step 5: deliveries


def _carrier_cum() -> np.ndarray:
    """Per category cumulative carrier distribution: electronics and appliances go express."""
    share = np.tile(co.CARRIER_SHARE, (K, 1))
    for k in (co.CATEGORIES.index("数码"), co.CATEGORIES.index("家电")):
        share[k, :2] *= 3.0
    share /= share.sum(axis=1, keepdims=True)
    return np.cumsum(share, axis=1)


def _deliveries(w: _World, specs: list[IncidentSpec], start: date, rng: np.random.Generator) -> _Shipments:
    """Ship every paid non-store order: carrier, ship time, promised and delivered times (minutes)."""
    rows = np.flatnonzero((w.paid_cf | w.paid_act) & (w.chan != STORE))
    n = rows.size
    cat = w.cat[rows]
    region = co.PROVINCE_REGION_CODE[w.prov[rows]]
    day = w.hour[rows] // 24
    carrier = _categorical(rng.random(n), _carrier_cum(), cat.astype(np.int64))
    order_min = w.hour[rows] * 60 + w.minute[rows]
    hod = w.hour[rows] % 24
    # warehouse: same day during 08-18h, otherwise the next morning at 08:00
    wait = np.where((hod >= 8) & (hod < 18), 0, ((8 - hod) % 24) * 60 - w.minute[rows])
    handling = wait + 60 * (np.exp(np.log(3.0) + 0.6 * rng.standard_normal(n)) + w.days.handling_extra[day])
    ship = order_min + np.round(handling).astype(np.int64)
    median = co.REGION_TRANSIT_HOURS[region] * co.CARRIER_SPEED[carrier]
    z = rng.standard_normal(n)
    transit_cf = median * w.days.transit[day] * np.exp(co.TRANSIT_SIGMA * z)
    # promise at order time: typical handling + a generous transit quantile, to the end of a day
    budget_h = 10.0 + median * np.exp(1.25 * co.TRANSIT_SIGMA) + 24.0 * w.days.promise_extra[day]
    promised = ((order_min + 60 * budget_h) // 1440 + 1) * 1440 - 1
    transit_act = transit_cf.copy()
    median_act = median * w.days.transit[day]
    extra_act = np.zeros(n)
    ship_hour = ship // 60
    for spec in specs:
        if spec.kind != "logistics_delay":
            continue
        h0, h1 = _hours_of(spec, start)
        codes = _dim_codes(dict(spec.slice))
        hit = (ship_hour >= h0) & (ship_hour < h1) & _province_mask(codes)[w.prov[rows]]
        if "carrier" in codes:
            hit &= carrier == codes["carrier"]
        transit_act[hit] = transit_cf[hit] * spec.params["transit"] + spec.params["extra_hours"]
        median_act[hit] = median_act[hit] * spec.params["transit"]
        extra_act[hit] = spec.params["extra_hours"]
    return _Shipments(
        row=rows,
        carrier=carrier,
        ship=ship,
        promised=promised.astype(np.int64),
        delivered_cf=ship + np.round(60 * transit_cf).astype(np.int64),
        delivered_act=ship + np.round(60 * transit_act).astype(np.int64),
        budget=(promised - ship) / 60.0,
        median_cf=median * w.days.transit[day],
        median_act=median_act,
        extra_act=extra_act,
    )


# --------------------------------------------------------------------------------------------
# measuring a metric in a slice and window, in either world


def _slice_masks(codes: dict[str, int], prov: np.ndarray, **dims: np.ndarray) -> np.ndarray:
    mask = _province_mask(codes)[prov]
    for dim, arr in dims.items():
        if dim in codes:
            mask = mask & (arr == codes[dim])
    return mask


TABLE_DIMS: dict[str, tuple[str, ...]] = {
    "orders": ("region", "province", "channel", "category", "payment_method", "buyer_type"),
    "traffic": ("region", "province", "channel"),
    "payments": ("region", "province", "channel", "payment_method"),
    "deliveries": ("region", "province", "channel", "category", "carrier"),
}
METRIC_TABLE: dict[str, str] = {
    "gmv": "orders", "orders": "orders", "buyers": "orders", "aov": "orders",
    "refund_rate": "orders", "new_buyer_share": "orders", "items_per_order": "orders",
    "sessions": "traffic", "conversion_rate": "orders", "payment_success_rate": "payments",
    "on_time_delivery_rate": "deliveries",
}  # fmt: skip


def measured_slice(metric: str, spec_slice: dict[str, str]) -> dict[str, str]:
    """The part of an incident's slice a metric can be measured on (its tables' dimensions)."""
    dims = set(TABLE_DIMS[METRIC_TABLE[metric]])
    if metric == "conversion_rate":
        dims &= set(TABLE_DIMS["traffic"])
    return {k: v for k, v in spec_slice.items() if k in dims}


def _measure(
    w: _World, s: _Shipments, metric: str, codes: dict[str, int], h0: int, h1: int, *, actual: bool
) -> float | None:
    """Value of ``metric`` over hours [h0, h1) in the slice given by ``codes`` (one world)."""
    if metric in ("sessions", "conversion_rate"):
        sessions = w.sessions_act if actual else w.sessions_cf
        cells = np.arange(h0 * P * C, h1 * P * C)
        cmask = _slice_masks(codes, ((cells // C) % P), channel=cells % C)
        denominator = float(sessions[cells][cmask].sum())
        if metric == "sessions":
            return denominator
    if metric == "on_time_delivery_rate":
        paid = (w.paid_act if actual else w.paid_cf)[s.row]
        delivered = s.delivered_act if actual else s.delivered_cf
        mask = paid & (s.ship >= h0 * 60) & (s.ship < h1 * 60)
        mask &= _slice_masks(codes, w.prov[s.row], channel=w.chan[s.row], category=w.cat[s.row],
                             carrier=s.carrier)  # fmt: skip
        total = mask.sum()
        return float((delivered[mask] <= s.promised[mask]).sum() / total) if total else None
    lo, hi = np.searchsorted(w.hour, [h0, h1])  # rows are in hour order
    win = slice(lo, hi)
    rmask = _slice_masks(codes, w.prov[win], channel=w.chan[win], category=w.cat[win],
                         payment_method=w.method[win])  # fmt: skip
    if metric == "payment_success_rate":
        exists = (w.act if actual else w.base)[win]
        attempts = (w.attempts_act if actual else w.attempts_cf)[win][rmask & exists].sum()
        paid = (w.paid_act if actual else w.paid_cf)[win][rmask].sum()
        return float(paid / attempts) if attempts else None
    paid_mask = rmask & (w.paid_act if actual else w.paid_cf)[win]
    orders = float(paid_mask.sum())
    amount = (w.amount_act if actual else w.amount_cf)[win]
    refunded = (w.refunded_act if actual else w.refunded_cf)[win]
    values: dict[str, float | None] = {
        "orders": orders,
        "gmv": float(amount[paid_mask].sum()),
    }
    if metric in values:
        return values[metric]
    if not orders:
        return None
    if metric == "conversion_rate":
        return orders / denominator if denominator else None
    if metric == "aov":
        return float(amount[paid_mask].sum()) / orders
    if metric == "refund_rate":
        return float(refunded[paid_mask].sum()) / orders
    if metric == "new_buyer_share":
        return float(w.new[win][paid_mask].sum()) / orders
    if metric == "items_per_order":
        return float(w.items[win][paid_mask].sum()) / orders
    if metric == "buyers":
        assert w.buyer is not None
        return float(np.unique(w.buyer[win][paid_mask]).size)
    raise ValueError(f"unknown metric {metric!r}")


# --------------------------------------------------------------------------------------------
# expected effects (what the incident was designed to do, before sampling noise)


def _expected(w: _World, s: _Shipments, spec: IncidentSpec, start: date) -> dict[str, float]:
    h0, h1 = _hours_of(spec, start)
    codes = _dim_codes(dict(spec.slice))
    prm = spec.params
    out: dict[str, float] = {}
    if spec.kind == "traffic_drop":
        out = {"sessions": prm["sessions"] - 1, "orders": prm["sessions"] - 1, "gmv": prm["sessions"] - 1,
               "conversion_rate": 0.0}  # fmt: skip
    elif spec.kind == "stock_out":
        out = {"orders": prm["orders"] - 1, "gmv": prm["orders"] - 1}
    elif spec.kind == "price_error":
        a, b = prm["amount"], prm["orders"]
        out = {"aov": a - 1, "orders": b - 1, "gmv": a * b - 1}
    elif spec.kind == "campaign_spike":
        m, lift = prm["sessions"], prm["conversion"]
        orders = (m - 1) * lift
        cells = np.arange(h0 * P * C, h1 * P * C)
        cmask = _slice_masks(codes, ((cells // C) % P), channel=cells % C)
        cc = cells[cmask] % C
        dd = (cells[cmask] // (P * C)) // 24
        mu = w.lam[cells][cmask] * w.cr[cells][cmask]
        share_new = float((mu * co.CHANNEL_NEW_BUYER[cc] * w.days.new_buyer[dd]).sum() / mu.sum())
        out = {
            "sessions": m - 1,
            "orders": orders,
            "gmv": orders,
            "conversion_rate": (1 + orders) / m - 1,
            "new_buyer_share": (share_new + orders * prm["new_buyer"]) / (1 + orders) / share_new - 1,
        }
    elif spec.kind == "refund_surge":
        d0, d1 = h0 // 24, max(h1 // 24, h0 // 24 + 1)
        base = co.REFUND_RATE[codes["category"]] * float(w.days.refund[d0:d1].mean())
        out = {"refund_rate": prm["refund_rate"] / base - 1}
    elif spec.kind == "payment_failure":
        # weight each method by its expected share of checkouts in the slice
        d = np.arange(h0 // 24, (h1 - 1) // 24 + 1)
        mix = w.days.payment[d].mean(axis=0)  # (C, M)
        chan_w = (w.days.channel_share[d].mean(axis=0) * co.CHANNEL_CONVERSION) * _channel_mask(codes)
        weights = (chan_w[:, None] * mix).sum(axis=0)
        if "payment_method" in codes:
            weights = weights * (np.arange(M) == codes["payment_method"])
        weights = weights / weights.sum()
        paid_cf, att_cf = payment_outcome(co.PAYMENT_SUCCESS)
        paid_act, att_act = payment_outcome(np.full(M, prm["success"]))
        orders = float((weights * paid_act).sum() / (weights * paid_cf).sum()) - 1
        rate_cf = (weights * paid_cf).sum() / (weights * att_cf).sum()
        rate_act = (weights * paid_act).sum() / (weights * att_act).sum()
        out = {"orders": orders, "gmv": orders, "payment_success_rate": float(rate_act / rate_cf) - 1}
        if "payment_method" not in codes:
            out["conversion_rate"] = orders
    elif spec.kind == "logistics_delay":
        # orders: the dip applies to shipped channels only; weight by expected checkouts
        cells = np.arange(h0 * P * C, h1 * P * C)
        cmask = _slice_masks(codes, ((cells // C) % P), channel=cells % C)
        mu = w.lam[cells][cmask] * w.cr[cells][cmask]
        online = (cells[cmask] % C) != STORE
        dip = float(mu[online].sum() / mu.sum()) * (prm["orders"] - 1)
        out = {"orders": dip, "gmv": dip, "conversion_rate": dip}
        # on-time: mean probability over the slice's shipments of arriving within the promise
        hit = (s.ship >= h0 * 60) & (s.ship < h1 * 60) & w.paid_cf[s.row]
        hit &= _slice_masks(codes, w.prov[s.row], carrier=s.carrier)
        budget = s.budget[hit]
        p_cf = ndtr(np.log(np.maximum(budget, 1e-3) / s.median_cf[hit]) / co.TRANSIT_SIGMA)
        room = np.maximum(budget - s.extra_act[hit], 1e-3)
        p_act = ndtr(np.log(room / s.median_act[hit]) / co.TRANSIT_SIGMA)
        if hit.any():
            out["on_time_delivery_rate"] = float(p_act.mean() / p_cf.mean()) - 1
    return {m: round(float(v), 4) for m, v in out.items() if m in spec.metrics}


def _truth(w: _World, s: _Shipments, spec: IncidentSpec, start: date) -> IncidentTruth:
    h0, h1 = _hours_of(spec, start)
    realised: dict[str, float | None] = {}
    measured_on: dict[str, dict[str, str]] = {}
    for metric in spec.metrics:
        on = measured_slice(metric, dict(spec.slice))
        codes = _dim_codes(on)
        actual = _measure(w, s, metric, codes, h0, h1, actual=True)
        cf = _measure(w, s, metric, codes, h0, h1, actual=False)
        realised[metric] = round(actual / cf - 1, 4) if actual is not None and cf else None
        measured_on[metric] = on
    return IncidentTruth(
        id=spec.id,
        kind=spec.kind,
        start=spec.start,
        end=spec.end,
        metrics=list(spec.metrics),
        slices=[dict(spec.slice)],
        expected_change=_expected(w, s, spec, start),
        realised_change=realised,
        measured_on=measured_on,
        params=dict(spec.params),
        description=Text(en=spec.description_en, zh=spec.description_zh),
        tags=list(spec.tags),
    )


# --------------------------------------------------------------------------------------------
# tables


def _names(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """Dictionary-encoded strings: DuckDB and Parquet readers see plain VARCHAR."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(values, pa.string()))


def _timestamps(start: date, minutes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Naive local timestamps (microseconds, as DuckDB's TIMESTAMP) from minutes since ``start``."""
    origin = np.datetime64(start.isoformat(), "m")
    stamps = (origin + minutes.astype("timedelta64[m]")).astype("datetime64[us]")
    return pa.array(stamps, pa.timestamp("us"), mask=null)


def _orders_table(w: _World, start: date, paid: np.ndarray, *, actual: bool) -> pa.Table:
    rows = np.flatnonzero(paid)
    rows = rows[np.argsort(w.order_id[rows], kind="stable")]
    amount = (w.amount_act if actual else w.amount_cf)[rows]
    discount = (w.discount_act if actual else w.discount_cf)[rows]
    refunded = (w.refunded_act if actual else w.refunded_cf)[rows]
    refund_amount = (w.refund_amount_act if actual else w.refund_amount_cf)[rows]
    minutes = w.hour[rows] * 60 + w.minute[rows]
    return pa.table(
        {
            "order_id": pa.array(w.order_id[rows], pa.int64()),
            "order_time": _timestamps(start, minutes),
            "buyer_id": pa.array(w.buyer[rows], pa.int64()),
            "region": _names(co.REGIONS, co.PROVINCE_REGION_CODE[w.prov[rows]]),
            "province": _names(co.PROVINCES, w.prov[rows]),
            "channel": _names(co.CHANNELS, w.chan[rows]),
            "category": _names(co.CATEGORIES, w.cat[rows]),
            "payment_method": _names(co.PAYMENT_METHODS, w.method[rows]),
            "buyer_type": _names(co.BUYER_TYPES, (~w.new[rows]).astype(np.int8)),
            "items": pa.array(w.items[rows], pa.int32()),
            "amount": pa.array(amount, pa.float64()),
            "discount": pa.array(discount, pa.float64()),
            "paid_amount": pa.array(_round2(amount - discount), pa.float64()),
            "is_refunded": pa.array(refunded, pa.bool_()),
            "refund_amount": pa.array(refund_amount, pa.float64()),
        }
    )


def _traffic_table(w: _World, start: date, sessions: np.ndarray, visitors: np.ndarray) -> pa.Table:
    cells = np.flatnonzero(sessions > 0)
    hour = cells // (P * C)
    prov = (cells // C) % P
    return pa.table(
        {
            "hour": _timestamps(start, hour * 60),
            "region": _names(co.REGIONS, co.PROVINCE_REGION_CODE[prov]),
            "province": _names(co.PROVINCES, prov),
            "channel": _names(co.CHANNELS, cells % C),
            "sessions": pa.array(sessions[cells], pa.int64()),
            "visitors": pa.array(visitors[cells], pa.int64()),
        }
    )


def _payments_table(w: _World, start: date, *, actual: bool) -> pa.Table:
    exists = w.act if actual else w.base
    attempts = w.attempts_act if actual else w.attempts_cf
    paid = w.paid_act if actual else w.paid_cf
    key = w.cell * M + w.method
    n_keys = w.H * P * C * M
    att = np.bincount(key[exists], weights=attempts[exists], minlength=n_keys)
    ok = np.bincount(key[paid], minlength=n_keys)
    keys = np.flatnonzero(att > 0)
    cell = keys // M
    prov = (cell // C) % P
    return pa.table(
        {
            "hour": _timestamps(start, (cell // (P * C)) * 60),
            "region": _names(co.REGIONS, co.PROVINCE_REGION_CODE[prov]),
            "province": _names(co.PROVINCES, prov),
            "channel": _names(co.CHANNELS, cell % C),
            "payment_method": _names(co.PAYMENT_METHODS, keys % M),
            "attempts": pa.array(att[keys].astype(np.int64), pa.int64()),
            "successes": pa.array(ok[keys].astype(np.int64), pa.int64()),
        }
    )


def _deliveries_table(w: _World, s: _Shipments, start: date, end: date, *, actual: bool) -> pa.Table:
    """Shipped orders as of ``end``: not yet shipped are absent; ``delivered_time`` is null while
    on the way, ``on_time`` too unless the promised time has already passed (then it is false)."""
    delivered = s.delivered_act if actual else s.delivered_cf
    horizon = (end - start).days * 1440
    paid = (w.paid_act if actual else w.paid_cf)[s.row]
    keep = np.flatnonzero(paid & (s.ship < horizon))
    keep = keep[np.argsort(w.order_id[s.row[keep]], kind="stable")]
    rows = s.row[keep]
    done = delivered[keep] < horizon
    on_time = delivered[keep] <= s.promised[keep]
    # a parcel still on its way after its promised time is already known to be late
    unknown = ~done & (s.promised[keep] >= horizon)
    return pa.table(
        {
            "order_id": pa.array(w.order_id[rows], pa.int64()),
            "order_time": _timestamps(start, w.hour[rows] * 60 + w.minute[rows]),
            "region": _names(co.REGIONS, co.PROVINCE_REGION_CODE[w.prov[rows]]),
            "province": _names(co.PROVINCES, w.prov[rows]),
            "channel": _names(co.CHANNELS, w.chan[rows]),
            "category": _names(co.CATEGORIES, w.cat[rows]),
            "carrier": _names(co.CARRIERS, s.carrier[keep]),
            "ship_time": _timestamps(start, s.ship[keep]),
            "promised_time": _timestamps(start, s.promised[keep]),
            "delivered_time": _timestamps(start, delivered[keep], null=~done),
            "on_time": pa.array(on_time, pa.bool_(), mask=unknown),
        }
    )
