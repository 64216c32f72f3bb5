"""The detector registry: built-ins and plugins register the same way.

A detector is a :class:`~metricloop.detect.base.Detector` subclass decorated with
:func:`register`. Built-ins live one per file in ``metricloop/detect/detectors/`` and are found by
walking that package (no list to edit). Plugins expose the same kind of class through the entry
point group ``metricloop.detectors``::

    [project.entry-points."metricloop.detectors"]
    my_detector = "my_pkg.detectors:MyDetector"

:func:`run` is what monitors call: it validates the parameters against the detector's pydantic
model (errors name the field), restarts baselines at ``reset_at`` and returns a Detection.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from metricloop.detect.base import Detector, DetectorParams
from metricloop.detect.types import Detection, SeriesBatch, concat_time
from metricloop.errors import ConfigError, Location, NotFoundError

ENTRY_POINT_GROUP = "metricloop.detectors"

_REGISTRY: dict[str, type[Detector]] = {}
_loaded = False

D = TypeVar("D", bound=type[Detector])


def register(cls: D) -> D:
    """Class decorator: make a detector available under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"detector class {cls.__qualname__} needs a non-empty `name`")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise ConfigError(f"detector name {name!r} is registered twice ({existing.__qualname__}, {cls.__qualname__})")
    _REGISTRY[name] = cls
    return cls


def load() -> None:
    """Import built-in detector modules and plugin entry points (once)."""
    global _loaded
    if _loaded:
        return
    from metricloop.detect import detectors as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, type) and issubclass(obj, Detector) and obj.name not in _REGISTRY:
            register(obj)
    _loaded = True


def available() -> dict[str, type[Detector]]:
    """Every registered detector by name."""
    load()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> type[Detector]:
    load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFoundError(
            f"unknown detector type {name!r}; expected one of {', '.join(sorted(_REGISTRY))}",
            zh=f"未知的检测器类型 {name!r}；可选 {', '.join(sorted(_REGISTRY))}",
        ) from None


def parse_params(name: str, params: Mapping[str, Any] | DetectorParams | None, where: str = "") -> DetectorParams:
    """Validate ``params`` for detector ``name``; a ConfigError names the offending field."""
    cls = get(name)
    if isinstance(params, cls.Params):
        return params
    raw = dict(params.model_dump() if isinstance(params, DetectorParams) else (params or {}))
    try:
        return cls.Params.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        loc = f"{where}.params.{field}" if where else f"params.{field}"
        raise ConfigError(
            f"detector {name!r}: {err['msg']}",
            zh=f"检测器 {name!r} 的参数 {field} 无效：{err['msg']}",
            location=Location(field=loc),
        ) from None


def run(
    batch: SeriesBatch,
    detector: str,
    params: Mapping[str, Any] | DetectorParams | None = None,
) -> Detection:
    """Run one detector over a batch.

    Series with a ``reset_at`` ("new normal") are evaluated in two parts, before and from the
    reset, so no history before the reset reaches the baseline after it.
    """
    det = get(detector)()
    p = parse_params(detector, params)
    if batch.reset_at is None or bool(np.all(np.isnat(batch.reset_at))):
        return det.detect(batch, p)
    cut = np.where(
        np.isnat(batch.reset_at), 0, np.searchsorted(batch.timestamps, batch.reset_at)
    ).astype(np.intp)
    results: list[tuple[np.ndarray, Detection]] = []
    for c in np.unique(cut):
        rows = np.nonzero(cut == c)[0]
        sub = batch.take(rows)
        pieces = [det.detect(sub.take(slice(None), slice(0, int(c))), p)] if c > 0 else []
        if c < batch.n_points:
            pieces.append(det.detect(sub.take(slice(None), slice(int(c), None)), p))
        results.append((rows, concat_time(pieces)))
    return _stack_rows(results, batch.n_series)


def _stack_rows(results: list[tuple[np.ndarray, Detection]], n: int) -> Detection:
    """Reassemble detections computed for groups of rows into one covering all ``n`` series."""
    first = results[0][1]

    def full(name: str) -> np.ndarray:
        proto = getattr(first, name)
        out = np.empty((n, proto.shape[1]), dtype=proto.dtype)
        for rows, part in results:
            out[rows] = getattr(part, name)
        return out

    kind = np.full((n, first.score.shape[1]), -1, dtype=np.int8)
    for rows, part in results:
        if part.kind is not None:
            kind[rows] = part.kind
    extra = {}
    for k in first.extra:
        arr = np.full((n, first.score.shape[1]), np.nan)
        for rows, part in results:
            arr[rows] = part.extra[k]
        extra[k] = arr
    return Detection(
        detector=first.detector,
        values=full("values"),
        expected=full("expected"),
        lower=full("lower"),
        upper=full("upper"),
        score=full("score"),
        severity=full("severity"),
        templates=first.templates,
        kind=kind,
        extra=extra,
        reason_fn=first.reason_fn,
    )
