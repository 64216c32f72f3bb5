"""MetricLoop: closed-loop business-metric monitoring (指标监控闭环).

define once → collect → detect → explain → notify → act → verify → review.
"""

from metricloop.errors import MetricLoopError

__version__ = "0.1.0"
__all__ = ["MetricLoopError", "__version__"]
