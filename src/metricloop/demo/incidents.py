"""Incidents injected into the demo company, with their known causes.

An :class:`IncidentSpec` says *what* goes wrong (kind + parameters), *where* (one slice: a
combination of dimension values) and *when* (a half-open window of whole hours, local time).
The generator applies it on top of the counterfactual world and measures the realised effect;
this module only holds the catalogue and the closed-form expected effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn

import numpy as np

from metricloop.demo import company as co
from metricloop.errors import ConfigError

KINDS = (
    "payment_failure",  # params: success = per-attempt success probability in the slice
    "stock_out",  # params: orders = share of the slice's orders that still happen
    "logistics_delay",  # params: transit (x), extra_hours (+), orders = share of orders kept in the area
    "campaign_spike",  # params: sessions (x), conversion (x, of the extra sessions), new_buyer (share)
    "traffic_drop",  # params: sessions = share of sessions (and their orders) that remain
    "refund_surge",  # params: refund_rate = refund probability of the slice's orders
    "price_error",  # params: amount (x order value), orders (x orders: bargain hunters)
)

METRICS = (
    "gmv",
    "orders",
    "buyers",
    "aov",
    "conversion_rate",
    "sessions",
    "payment_success_rate",
    "refund_rate",
    "on_time_delivery_rate",
    "new_buyer_share",
    "items_per_order",
)

# Dimensions each kind may slice on (anything else is a mistake in the spec).
_SLICE_DIMS: dict[str, frozenset[str]] = {
    "payment_failure": frozenset({"region", "province", "channel", "payment_method"}),
    "stock_out": frozenset({"region", "province", "channel", "category"}),
    "logistics_delay": frozenset({"region", "province", "carrier"}),
    "campaign_spike": frozenset({"region", "province", "channel"}),
    "traffic_drop": frozenset({"region", "province", "channel"}),
    "refund_surge": frozenset({"region", "province", "channel", "category"}),
    "price_error": frozenset({"region", "province", "channel", "category"}),
}

DIM_VALUES: dict[str, tuple[str, ...]] = {
    "region": co.REGIONS,
    "province": co.PROVINCES,
    "channel": co.CHANNELS,
    "category": co.CATEGORIES,
    "payment_method": co.PAYMENT_METHODS,
    "carrier": co.CARRIERS,
}


@dataclass(frozen=True)
class IncidentSpec:
    """One injected incident; ``start``/``end`` are naive local (Asia/Shanghai) whole hours."""

    id: str
    kind: str
    start: datetime
    end: datetime
    slice: Mapping[str, str]
    params: Mapping[str, float]
    metrics: tuple[str, ...]
    description_en: str
    description_zh: str
    tags: tuple[str, ...] = field(default_factory=tuple)

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the incident and field when the spec is inconsistent."""
        if self.kind not in KINDS:
            self._fail(f"kind {self.kind!r} is not one of {', '.join(KINDS)}", f"类型 {self.kind!r} 不受支持")
        if not self.start < self.end:
            self._fail("start must be before end", "开始时间必须早于结束时间")
        for t in (self.start, self.end):
            if t.minute or t.second or t.microsecond:
                self._fail(f"start/end must be whole hours, got {t}", f"开始/结束时间须为整点，实际为 {t}")
        for dim, value in self.slice.items():
            if dim not in _SLICE_DIMS[self.kind]:
                allowed = ", ".join(sorted(_SLICE_DIMS[self.kind]))
                self._fail(f"slice dimension {dim!r} is not one of {allowed}", f"切片维度 {dim!r} 无效")
            if value not in DIM_VALUES[dim]:
                self._fail(f"slice {dim}={value!r} is not a known value", f"切片取值 {dim}={value!r} 不存在")
        for m in self.metrics:
            if m not in METRICS:
                self._fail(f"metric {m!r} is not one of {', '.join(METRICS)}", f"指标 {m!r} 不在列表中")

    def _fail(self, message: str, zh: str) -> NoReturn:
        raise ConfigError(f"incident {self.id}: {message}", zh=f"故障 {self.id}：{zh}")


def _dt(s: str) -> datetime:
    return datetime.fromisoformat(s)


DEFAULT_INCIDENTS: tuple[IncidentSpec, ...] = (
    IncidentSpec(
        id="INC-2025-03-12-pay-gd-wechat",
        kind="payment_failure",
        start=_dt("2025-03-12T10:00"),
        end=_dt("2025-03-12T15:00"),
        slice={"province": "广东", "payment_method": "wechat_pay"},
        params={"success": 0.25},
        metrics=("payment_success_rate", "orders", "gmv"),
        description_en="WeChat Pay callbacks time out for buyers in Guangdong after a gateway certificate "
        "rotation; most payment attempts fail.",
        description_zh="支付网关证书轮换后，广东地区微信支付回调超时，大部分支付失败。",
        tags=("payment", "wechat_pay"),
    ),
    IncidentSpec(
        id="INC-2025-08-05-logistics-sw-zto",
        kind="logistics_delay",
        start=_dt("2025-08-05T00:00"),
        end=_dt("2025-08-08T00:00"),
        slice={"region": "西南", "carrier": "中通"},
        params={"transit": 2.2, "extra_hours": 20.0, "orders": 0.88},
        metrics=("on_time_delivery_rate", "orders"),
        description_en="Floods in the south-west close ZTO's Chengdu and Chongqing hubs; parcels arrive days "
        "late and shoppers there hesitate to order.",
        description_zh="西南暴雨导致中通成都、重庆转运中心停摆，包裹严重延误，当地下单意愿下降。",
        tags=("logistics", "weather"),
    ),
    IncidentSpec(
        id="INC-2026-04-14-app-outage",
        kind="traffic_drop",
        start=_dt("2026-04-14T09:00"),
        end=_dt("2026-04-14T13:00"),
        slice={"channel": "app"},
        params={"sessions": 0.3},
        metrics=("sessions", "orders", "gmv"),
        description_en="A faulty app release crashes on start-up for most Android users until it is "
        "rolled back.",
        description_zh="App 新版本发布后多数安卓用户启动即崩溃，回滚前 App 流量大幅下跌。",
        tags=("traffic", "release"),
    ),
    IncidentSpec(
        id="INC-2026-05-08-stockout-baby",
        kind="stock_out",
        start=_dt("2026-05-08T00:00"),
        end=_dt("2026-05-11T00:00"),
        slice={"category": "母婴"},
        params={"orders": 0.4},
        metrics=("orders", "gmv"),
        description_en="The best-selling infant formula is out of stock nationwide after a supplier's "
        "shipment is held at customs.",
        description_zh="主力奶粉供应商到货被海关扣留，全国缺货，母婴品类订单骤降。",
        tags=("supply", "stock"),
    ),
    IncidentSpec(
        id="INC-2026-05-13-pay-zj-app",
        kind="payment_failure",
        start=_dt("2026-05-13T19:00"),
        end=_dt("2026-05-13T23:00"),
        slice={"province": "浙江", "channel": "app"},
        params={"success": 0.35},
        metrics=("payment_success_rate", "orders", "gmv", "conversion_rate"),
        description_en="A payment SDK configuration pushed to the app's Zhejiang traffic pool rejects "
        "most payments for all methods.",
        description_zh="推送到浙江 App 流量池的支付 SDK 配置有误，各支付方式大量失败。",
        tags=("payment", "release"),
    ),
    IncidentSpec(
        id="INC-2026-07-10-livestream",
        kind="campaign_spike",
        start=_dt("2026-07-10T19:00"),
        end=_dt("2026-07-10T23:00"),
        slice={"channel": "mini_program"},
        params={"sessions": 2.5, "conversion": 1.3, "new_buyer": 0.55},
        metrics=("sessions", "orders", "gmv", "conversion_rate", "new_buyer_share"),
        description_en="A celebrity live-stream shared in WeChat groups sends a wave of new shoppers to the "
        "mini program.",
        description_zh="明星直播在微信群刷屏，大量新客涌入小程序下单。",
        tags=("campaign", "live"),
    ),
    IncidentSpec(
        id="INC-2026-07-21-price-error-appliance",
        kind="price_error",
        start=_dt("2026-07-21T20:00"),
        end=_dt("2026-07-22T02:00"),
        slice={"category": "家电"},
        params={"amount": 0.45, "orders": 1.6},
        metrics=("aov", "orders", "gmv"),
        description_en="A stacked-coupon misconfiguration sells appliances at less than half price until "
        "the rule is withdrawn; bargain hunters pile in.",
        description_zh="叠券规则配置错误，家电以不到五折售卖，羊毛党涌入，规则撤回后恢复。",
        tags=("pricing", "coupon"),
    ),
    IncidentSpec(
        id="INC-2026-08-12-logistics-sc-yto",
        kind="logistics_delay",
        start=_dt("2026-08-12T00:00"),
        end=_dt("2026-08-15T00:00"),
        slice={"region": "华南", "carrier": "圆通"},
        params={"transit": 2.0, "extra_hours": 24.0, "orders": 0.9},
        metrics=("on_time_delivery_rate", "orders"),
        description_en="A typhoon shuts YTO's Guangzhou and Nanning sorting centres; deliveries in South "
        "China run days late.",
        description_zh="台风导致圆通广州、南宁分拨中心停工，华南地区派送延误数天。",
        tags=("logistics", "weather"),
    ),
    IncidentSpec(
        id="INC-2026-08-18-refund-food",
        kind="refund_surge",
        start=_dt("2026-08-18T00:00"),
        end=_dt("2026-08-25T00:00"),
        slice={"category": "食品"},
        params={"refund_rate": 0.12},
        metrics=("refund_rate",),
        description_en="A batch of snacks from one supplier arrives stale in the summer heat; buyers ask "
        "for refunds.",
        description_zh="某供应商一批零食高温变质，买家集中申请退款。",
        tags=("quality", "refund"),
    ),
    IncidentSpec(
        id="INC-2026-09-02-pay-gd-wechat",
        kind="payment_failure",
        start=_dt("2026-09-02T10:00"),
        end=_dt("2026-09-02T16:00"),
        slice={"province": "广东", "payment_method": "wechat_pay"},
        params={"success": 0.3},
        metrics=("payment_success_rate", "orders", "gmv"),
        description_en="WeChat Pay fails again for buyers in Guangdong: the gateway certificate expired "
        "because the renewal reminder was never set up.",
        description_zh="广东地区微信支付再次大面积失败：网关证书过期，续期提醒从未配置。",
        tags=("payment", "wechat_pay", "repeat"),
    ),
    IncidentSpec(
        id="INC-2026-09-17-web-east-cdn",
        kind="traffic_drop",
        start=_dt("2026-09-17T10:00"),
        end=_dt("2026-09-17T18:00"),
        slice={"region": "华东", "channel": "web"},
        params={"sessions": 0.35},
        metrics=("sessions", "orders", "gmv"),
        description_en="A CDN node serving East China returns errors during office hours; most web "
        "visitors there cannot load the site.",
        description_zh="华东 CDN 节点在工作时段故障，当地大部分网页端用户无法打开网站。",
        tags=("traffic", "cdn"),
    ),
)


def payment_outcome(p: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(P(checkout paid), E[attempts]) when each attempt succeeds with ``p`` and buyers retry.

    A buyer makes at most k attempts (k = 1, 2, 3 with ``PAYMENT_TRIES``) and stops at the first
    success; this is exactly the rule the generator samples, so the expected effect of a payment
    failure follows in closed form.
    """
    q = 1.0 - np.asarray(p, dtype=float)
    paid = np.zeros_like(q)
    attempts = np.zeros_like(q)
    for k, w in enumerate(co.PAYMENT_TRIES, start=1):
        paid += w * (1.0 - q**k)
        attempts += w * sum(q**i for i in range(k))
    return paid, attempts
