"""The fixed shape of the demo company: its dimensions and their relative sizes.

Every value here is an illustrative choice for a plausible mid-sized Chinese online retailer
(not a statistic of any real company). Keeping them in one table-like module lets a reader see
the whole company at a glance and lets the generator stay pure array arithmetic over codes.
"""

from __future__ import annotations

import numpy as np

# --- geography -----------------------------------------------------------------------------
# (region, province, relative size). Sizes loosely follow population and online-retail weight.
PROVINCE_TABLE: tuple[tuple[str, str, float], ...] = (
    ("华东", "上海", 5.0),
    ("华东", "江苏", 9.0),
    ("华东", "浙江", 9.5),
    ("华东", "安徽", 3.5),
    ("华东", "山东", 6.5),
    ("华东", "福建", 4.0),
    ("华北", "北京", 5.5),
    ("华北", "天津", 2.0),
    ("华北", "河北", 3.8),
    ("华北", "山西", 1.8),
    ("华南", "广东", 13.0),
    ("华南", "广西", 2.2),
    ("华南", "海南", 0.7),
    ("华中", "湖北", 3.6),
    ("华中", "湖南", 3.3),
    ("华中", "河南", 4.8),
    ("西南", "四川", 4.6),
    ("西南", "重庆", 2.4),
    ("西南", "云南", 1.9),
    ("西南", "贵州", 1.4),
    ("西北", "陕西", 2.2),
    ("西北", "甘肃", 0.8),
    ("西北", "新疆", 1.0),
    ("东北", "辽宁", 2.2),
    ("东北", "吉林", 1.0),
    ("东北", "黑龙江", 1.3),
)
REGIONS: tuple[str, ...] = ("华东", "华北", "华南", "华中", "西南", "西北", "东北")
PROVINCES: tuple[str, ...] = tuple(p for _, p, _ in PROVINCE_TABLE)
PROVINCE_REGION: dict[str, str] = {p: r for r, p, _ in PROVINCE_TABLE}
# code arrays: province code -> region code, province weight (sums to 1)
PROVINCE_REGION_CODE = np.array([REGIONS.index(r) for r, _, _ in PROVINCE_TABLE], dtype=np.int8)
PROVINCE_WEIGHT = np.array([w for _, _, w in PROVINCE_TABLE]) / sum(w for _, _, w in PROVINCE_TABLE)
# Buyers in the far west and north-east convert a little less (longer delivery, fewer stores).
REGION_CONVERSION = np.array([1.05, 1.0, 1.02, 0.98, 0.97, 0.9, 0.93])

# --- channels ------------------------------------------------------------------------------
CHANNELS: tuple[str, ...] = ("app", "web", "mini_program", "store")
# Share of sessions at the start and at the end of the reference period; the mix drifts
# smoothly between them (mini programs grow, the web shrinks).
CHANNEL_SHARE_START = np.array([0.50, 0.18, 0.20, 0.12])
CHANNEL_SHARE_END = np.array([0.45, 0.10, 0.35, 0.10])
# Orders per session (before seasonal lifts): all within the realistic 2-6 % band.
CHANNEL_CONVERSION = np.array([0.042, 0.024, 0.034, 0.056])
# Probability that a session belongs to a visitor not yet seen in that hour.
CHANNEL_VISITOR_RATIO = np.array([0.72, 0.8, 0.76, 0.95])
# Share of orders placed by first-time buyers, per channel (declines slowly as the base grows).
CHANNEL_NEW_BUYER = np.array([0.22, 0.30, 0.42, 0.25])

# Relative traffic by hour of day (0..23), per channel. Store channel is closed at night.
HOURLY_PROFILE = np.array(
    [
        # app: evening peak around 21:00, a lunch bump
        [3.0, 1.8, 1.0, 0.6, 0.5, 0.6, 1.2, 2.2, 3.2, 3.8, 4.2, 4.6, 5.4, 5.2, 4.3,
         4.1, 4.2, 4.4, 4.8, 5.6, 6.6, 7.4, 7.0, 5.0],
        # web: office hours
        [1.2, 0.7, 0.4, 0.3, 0.3, 0.4, 0.8, 1.8, 3.6, 5.6, 6.4, 6.2, 5.0, 5.2, 6.0,
         6.2, 5.8, 5.0, 3.8, 3.6, 3.8, 3.6, 2.8, 1.9],
        # mini_program: lunch and evening peaks (social sharing)
        [2.2, 1.2, 0.7, 0.4, 0.4, 0.5, 1.1, 2.3, 3.4, 3.6, 4.0, 5.0, 6.8, 6.0, 4.0,
         3.7, 3.8, 4.2, 5.0, 6.2, 6.8, 6.6, 5.6, 3.6],
        # store: open 10:00-22:00
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 4.5, 5.5, 5.2, 5.6,
         6.0, 6.0, 5.8, 6.2, 7.0, 7.2, 6.0, 3.5, 0.0],
    ]
)

# --- merchandise ---------------------------------------------------------------------------
CATEGORIES: tuple[str, ...] = ("服饰", "数码", "家电", "美妆", "食品", "母婴", "家居", "运动")
# Category mix per channel (rows: channels). Stores sell more apparel, sports and home goods.
CATEGORY_MIX = np.array(
    [
        [0.24, 0.09, 0.06, 0.12, 0.20, 0.08, 0.11, 0.10],
        [0.18, 0.15, 0.10, 0.10, 0.16, 0.08, 0.13, 0.10],
        [0.22, 0.06, 0.04, 0.16, 0.25, 0.10, 0.10, 0.07],
        [0.30, 0.08, 0.05, 0.10, 0.08, 0.05, 0.16, 0.18],
    ]
)
# Unit price: median CNY and log-scale spread; items per order = 1 + Poisson(extra).
UNIT_PRICE_MEDIAN = np.array([129.0, 899.0, 1599.0, 159.0, 45.0, 139.0, 99.0, 219.0])
UNIT_PRICE_SIGMA = np.array([0.6, 0.75, 0.7, 0.55, 0.6, 0.6, 0.7, 0.6])
EXTRA_ITEMS = np.array([0.6, 0.15, 0.05, 0.8, 1.4, 0.9, 0.7, 0.4])
# Probability that an order is refunded (apparel highest: sizes and colours).
REFUND_RATE = np.array([0.085, 0.035, 0.03, 0.03, 0.02, 0.03, 0.04, 0.05])

# --- payments ------------------------------------------------------------------------------
PAYMENT_METHODS: tuple[str, ...] = ("alipay", "wechat_pay", "unionpay", "credit_card")
# Method mix per channel at the start and the end of the reference period.
PAYMENT_MIX_START = np.array(
    [
        [0.52, 0.33, 0.07, 0.08],
        [0.55, 0.15, 0.15, 0.15],
        [0.10, 0.84, 0.03, 0.03],
        [0.30, 0.45, 0.15, 0.10],
    ]
)
PAYMENT_MIX_END = np.array(
    [
        [0.48, 0.38, 0.06, 0.08],
        [0.52, 0.20, 0.13, 0.15],
        [0.08, 0.88, 0.02, 0.02],
        [0.27, 0.52, 0.12, 0.09],
    ]
)
# Success probability of one payment attempt, per method.
PAYMENT_SUCCESS = np.array([0.988, 0.985, 0.972, 0.966])
# A buyer whose payment fails tries at most 1, 2 or 3 times in all with these probabilities.
PAYMENT_TRIES = np.array([0.5, 0.3, 0.2])

# --- logistics -----------------------------------------------------------------------------
CARRIERS: tuple[str, ...] = ("顺丰", "京东物流", "中通", "圆通", "韵达", "申通", "极兔", "EMS")
CARRIER_SHARE = np.array([0.13, 0.10, 0.22, 0.17, 0.13, 0.09, 0.12, 0.04])
# Transit time multiplier (express carriers are faster).
CARRIER_SPEED = np.array([0.7, 0.65, 1.0, 1.05, 1.05, 1.1, 1.1, 1.2])
# Median transit hours from the (east-China) warehouses to each region.
REGION_TRANSIT_HOURS = np.array([26.0, 38.0, 36.0, 34.0, 50.0, 66.0, 56.0])
TRANSIT_SIGMA = 0.35

BUYER_TYPES: tuple[str, ...] = ("new", "returning")
