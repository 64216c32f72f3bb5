from __future__ import annotations

from tests.api.conftest import demo, lite, svc

__all__ = ["demo", "lite", "svc"]
