"""The optional model: an OpenAI-compatible chat-completions endpoint with function calling.

Used only when ``METRICLOOP_LLM_BASE_URL``, ``METRICLOOP_LLM_MODEL`` and ``METRICLOOP_LLM_API_KEY``
are all set, and only for a question the offline parser cannot resolve. The model gets the
question, today's date, a summary of the catalog and the JSON schema of the structured request
as the one tool it must call; its arguments go through the same validation as any request, and
an invalid answer is refused. The key is registered with :mod:`metricloop.secrets`, so it is
masked in every log line, error and answer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

from metricloop.assistant.request import AskRequest, json_schema, parse_request
from metricloop.errors import QueryError
from metricloop.secrets import redact, register

TOOL = "structured_request"
SYSTEM = (
    "You turn a business user's question about metrics into one call of the tool "
    f"'{TOOL}'. Use only metric and dimension names from the catalog below, a 'where' in the filter "
    "language (dim = 'value', dim != 'value', dim in ('a', 'b'), combined with and), dates as YYYY-MM-DD "
    "(inclusive), and intent one of query, trend, compare, rank, why, define, owner, status, similar. "
    "Never write SQL."
)


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str
    timeout: float = 20.0

    @classmethod
    def from_env(cls) -> LLMConfig | None:
        """The configuration when all three variables are set, else None (the offline default)."""
        base = os.environ.get("METRICLOOP_LLM_BASE_URL", "").strip()
        model = os.environ.get("METRICLOOP_LLM_MODEL", "").strip()
        key = os.environ.get("METRICLOOP_LLM_API_KEY", "").strip()
        if not (base and model and key):
            return None
        register(key)
        return cls(base.rstrip("/"), model, key)


class LLMClient:
    """One call per question; answers are checked by :func:`parse_request` (and the caller's
    catalog validation)."""

    def __init__(self, config: LLMConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        register(config.api_key)
        self._transport = transport

    def payload(self, question: str, catalog_summary: str, now: dt.datetime) -> dict[str, Any]:
        """The chat-completions body (what the loopback test checks)."""
        return {
            "model": self.config.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": f"{SYSTEM}\nToday is {now.date().isoformat()}.\n{catalog_summary}"},
                {"role": "user", "content": question},
            ],
            "tools": [{"type": "function", "function": {
                "name": TOOL, "description": "The structured request that answers the question.",
                "parameters": json_schema()}}],
            "tool_choice": {"type": "function", "function": {"name": TOOL}},
        }

    def request(self, question: str, catalog_summary: str, *, now: dt.datetime) -> AskRequest:
        """Ask the model; raise :class:`QueryError` when it fails or answers with no valid request."""
        url = f"{self.config.base_url}/chat/completions"
        try:
            with httpx.Client(timeout=self.config.timeout, transport=self._transport) as client:
                resp = client.post(url, json=self.payload(question, catalog_summary, now),
                                   headers={"Authorization": f"Bearer {self.config.api_key}"})
        except httpx.HTTPError as exc:
            raise QueryError(redact(f"the model endpoint failed: {exc}", [self.config.api_key]),
                             zh="模型服务调用失败") from None
        if resp.status_code != 200:
            raise QueryError(redact(f"the model endpoint answered HTTP {resp.status_code}", [self.config.api_key]),
                             zh=f"模型服务返回 HTTP {resp.status_code}")
        try:
            message = resp.json()["choices"][0]["message"]
            calls = message.get("tool_calls") or []
            call = next(c for c in calls if c.get("function", {}).get("name") == TOOL)
            args = call["function"]["arguments"]
            data = json.loads(args) if isinstance(args, str) else args
        except (ValueError, KeyError, IndexError, StopIteration, TypeError, AttributeError):
            raise QueryError(f"the model did not call the tool '{TOOL}' with JSON arguments",
                             zh=f"模型没有以 JSON 参数调用工具 '{TOOL}'") from None
        return parse_request(data)
