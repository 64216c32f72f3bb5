"""Anomaly detection (异常预警): pure, vectorised over many series at once.

Public API (what the service layer calls)::

    from metricloop.detect import SeriesBatch, evaluate_monitor, parse_monitor_yaml, run_detector

    spec = parse_monitor_yaml(text, file="monitors/gmv.yaml")
    batch = SeriesBatch(values, timestamps, grain=spec.grain, keys=slice_keys)
    result = evaluate_monitor(spec, batch, polarity="higher_is_better", feedback=labels)

Detectors register themselves (``metricloop.detect.registry``); the monitor model lives in
``monitor``, noise control in ``noise``, feedback rules in ``feedback``.
"""

from metricloop.detect.evaluate import MonitorRun, evaluate_monitor
from metricloop.detect.feedback import Feedback, Label, precision, sensitivity_multiplier
from metricloop.detect.monitor import MonitorSpec, NoiseSpec, parse_monitor, parse_monitor_yaml
from metricloop.detect.noise import AnomalyEvent, build_events, fingerprint
from metricloop.detect.registry import available, register
from metricloop.detect.registry import run as run_detector
from metricloop.detect.types import (
    Detection,
    Direction,
    Grain,
    Polarity,
    SeriesBatch,
    Severity,
    default_direction,
)

__all__ = [
    "AnomalyEvent",
    "Detection",
    "Direction",
    "Feedback",
    "Grain",
    "Label",
    "MonitorRun",
    "MonitorSpec",
    "NoiseSpec",
    "Polarity",
    "SeriesBatch",
    "Severity",
    "available",
    "build_events",
    "default_direction",
    "evaluate_monitor",
    "fingerprint",
    "parse_monitor",
    "parse_monitor_yaml",
    "precision",
    "register",
    "run_detector",
    "sensitivity_multiplier",
]
