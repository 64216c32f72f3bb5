"""The service's own health for Prometheus (``GET /metrics``).

Counters and gauges live on one registry for the process. Work is reported two ways:

* set a metric declared in :mod:`metricloop.telemetry` (``LOOP_PASS_SECONDS.set(...)``,
  ``DELIVERY_FAILURES.labels(ch).inc()``), below the stages and the doors, or
* register a *probe*: a function of the facade read at scrape time (``register_probe``), right
  for values kept in the state store such as the outbox backlog — every worker reports the
  same number and nothing goes stale.

Every scheduled job is measured by the scheduler itself (runs, outcome, last duration), so the
loop pass duration appears as soon as the workflow registers its loop job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from metricloop.telemetry import REGISTRY

if TYPE_CHECKING:
    from metricloop.service import MetricLoop


@dataclass(frozen=True)
class Probe:
    name: str
    help: str
    read: Callable[[MetricLoop], float | None]


PROBES: dict[str, Probe] = {}


def register_probe(name: str, help_text: str) -> Callable[[Callable[[MetricLoop], float | None]],
                                                          Callable[[MetricLoop], float | None]]:
    """Decorator: ``@register_probe("metricloop_x", "what it is")`` on ``def read(ml) -> float | None``."""

    def deco(fn: Callable[[MetricLoop], float | None]) -> Callable[[MetricLoop], float | None]:
        PROBES[name] = Probe(name, help_text, fn)
        return fn

    return deco


class _ProbeCollector(Collector):
    def __init__(self, ml: MetricLoop) -> None:
        self.ml = ml

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for probe in PROBES.values():
            try:
                value = probe.read(self.ml)
            except Exception:  # a failing probe must not break the scrape
                value = None
            if value is not None:
                yield GaugeMetricFamily(probe.name, probe.help, value=float(value))


def scrape(ml: MetricLoop) -> bytes:
    """The text exposition: process metrics plus every probe read now."""
    probes = CollectorRegistry(auto_describe=False)
    probes.register(_ProbeCollector(ml))
    return generate_latest(REGISTRY) + generate_latest(probes)


@register_probe("metricloop_catalog_metrics", "Metrics in the catalog.")
def _catalog_size(ml: MetricLoop) -> float:
    return float(len(ml.catalog.metrics))


@register_probe("metricloop_outbox_backlog", "Notifications waiting to be delivered (pending in the outbox).")
def _outbox_backlog(ml: MetricLoop) -> float:
    from metricloop.notify.dispatch import outbox_stats

    return float(outbox_stats(ml.store).get("pending", 0))


@register_probe("metricloop_outbox_dead", "Notifications that could not be delivered through any channel.")
def _outbox_dead(ml: MetricLoop) -> float:
    from metricloop.notify.dispatch import outbox_stats

    return float(outbox_stats(ml.store).get("dead", 0))


@register_probe("metricloop_incidents_open", "Incidents not closed yet (triggered to verifying).")
def _incidents_open(ml: MetricLoop) -> float:
    import sqlalchemy as sa

    from metricloop.store.workflow_models import Incident
    from metricloop.workflow.lifecycle import OPEN_STATES

    with ml.store.session() as s:
        return float(s.scalar(sa.select(sa.func.count()).select_from(Incident)
                              .where(Incident.status.in_(OPEN_STATES))) or 0)
