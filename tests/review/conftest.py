"""The review tests use the workflow tests' demo project (state on SQLite and PostgreSQL)."""

from tests.workflow.conftest import clock, emu, ml, project, state_url

__all__ = ["clock", "emu", "ml", "project", "state_url"]
