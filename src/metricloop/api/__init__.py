"""The HTTP API (FastAPI): ``create_app(ml)``; one router per area in ``api/routes``."""

from metricloop.api.app import create_app

__all__ = ["create_app"]
