"""Composite rule across metrics: alert only when A and B are abnormal together (or either).

"Conversion rate down AND traffic normal" separates a checkout bug from a quiet day. Each rule
runs a registered detector on a metric of the batch: ``self`` (the monitored metric) or a name
in ``SeriesBatch.context`` (other metrics on the same slices and grid).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from metricloop.detect.base import Detector, DetectorParams
from metricloop.detect.registry import register, run
from metricloop.detect.types import Detection, SeriesBatch
from metricloop.errors import ConfigError
from metricloop.i18n import Text


class CompositeRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field("self", description="`self` or the name of a metric in the batch context.")
    type: str = Field(description="Registered detector type to run on that metric.")
    params: dict[str, Any] = Field(default_factory=dict, description="That detector's parameters.")


class CompositeParams(DetectorParams):
    rules: list[CompositeRule] = Field(min_length=1, description="Conditions to combine.")
    op: Literal["all", "any"] = Field("all", description="all = every rule flags (A and B); any = A or B.")
    warning: float = Field(1.0, gt=0, description="Unused: each rule carries its own levels.")
    critical: float | None = Field(2.0, gt=0, description="Unused: each rule carries its own levels.")


@register
class CompositeDetector(Detector):
    """Severity/score = min over rules (all) or max (any); band from the first rule."""

    name = "composite"
    Params = CompositeParams
    title = Text(en="composite rule", zh="组合规则")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, CompositeParams)
        parts: list[Detection] = []
        for k, rule in enumerate(params.rules):
            if rule.metric == "self":
                sub = batch
            elif rule.metric in batch.context:
                sub = SeriesBatch(
                    values=batch.context[rule.metric], timestamps=batch.timestamps, grain=batch.grain
                )
            else:
                raise ConfigError(
                    f"composite rule {k}: metric {rule.metric!r} is not in the batch context "
                    f"(available: {', '.join(sorted(batch.context)) or 'none'})"
                )
            parts.append(run(sub, rule.type, rule.params))
        combine = np.minimum if params.op == "all" else np.maximum
        score, sev = parts[0].score, parts[0].severity
        for p in parts[1:]:
            score, sev = combine(score, p.score), combine(sev, p.severity)
        names = [r.metric for r in params.rules]
        joiner = (" and ", " 且 ") if params.op == "all" else (" or ", " 或 ")

        def reason(det: Detection, i: int, t: int) -> Text:
            texts = []
            for name, p in zip(names, parts, strict=True):
                r = p.reason(i, t)
                if r is not None:
                    texts.append((f"{name}: {r.en}", f"{name}：{r.zh}"))
            return Text(en=joiner[0].join(e for e, _ in texts), zh=joiner[1].join(z for _, z in texts))

        first = parts[0]
        return Detection(
            detector=self.name,
            values=batch.values,
            expected=first.expected,
            lower=first.lower,
            upper=first.upper,
            score=score,
            severity=sev.astype(np.int8),
            reason_fn=reason,
        )
