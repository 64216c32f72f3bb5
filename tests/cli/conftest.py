"""``cli``: run ``metricloop ARGS`` in this process through the real entry point, exit code included."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest

SECRET = "tok-3f9a1c77e2b54d08"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``metricloop ARGS`` in this process through the real entry point (its exit code included)."""
    from metricloop.cli.entry import main

    def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
        with monkeypatch.context() as m:
            m.setenv("METRICLOOP_LOCALE", "en")
            m.setenv("ML_TEST_VALIDATE_KEY", SECRET)  # the variable tests/cli/test_validate.py uses
            for k, v in (env or {}).items():
                if v is None:
                    m.delenv(k, raising=False)
                else:
                    m.setenv(k, v)
            m.setattr(sys, "argv", ["metricloop", *args])
            capsys.readouterr()
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


