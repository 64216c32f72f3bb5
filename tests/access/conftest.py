from __future__ import annotations

from tests.api.conftest import lite, svc

__all__ = ["lite", "svc"]
