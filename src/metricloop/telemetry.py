"""The process's own counters and gauges for Prometheus, on one registry.

They sit at the core level, below the stages and the doors, so whatever does the work (the
scheduler's jobs, the loop's door, the API's middleware) counts it here without importing the
API; the API exposes them at ``GET /metrics`` (:mod:`metricloop.api.telemetry`) together with
the probes it reads from the state store at scrape time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # the *_created series only add noise to a service dashboard
REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter("metricloop_http_requests", "HTTP requests served, by route template and status.",
                        ["method", "route", "status"], registry=REGISTRY)
HTTP_LATENCY = Histogram("metricloop_http_request_duration_seconds", "Time to serve an HTTP request.",
                         ["method", "route"], registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
JOB_RUNS = Counter("metricloop_job_runs", "Scheduled job runs in this process, by outcome.", ["job", "outcome"],
                   registry=REGISTRY)
JOB_LAST_DURATION = Gauge("metricloop_job_last_duration_seconds", "Duration of the last run of a job here.",
                          ["job"], registry=REGISTRY)
LOOP_PASS_SECONDS = Gauge("metricloop_loop_pass_duration_seconds",
                          "Duration of the last full loop pass (detect → alert → incident → notify → timers).",
                          registry=REGISTRY)
DELIVERY_FAILURES = Counter("metricloop_delivery_failures", "Notification deliveries that failed, by channel.",
                            ["channel"], registry=REGISTRY)
