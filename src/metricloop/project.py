"""A MetricLoop project: a folder that lives in git.

    metricloop.yaml    warehouse connection(s), state store URL, timezone, locale
    models/*.yaml      semantic models and metrics
    monitors/*.yaml    what to watch
    owners.yaml        responsibility table
    channels.yaml      notification channels

Connection strings may reference secrets as ``${ENV_VAR}``; they are resolved at connect time and
redacted everywhere else.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from metricloop.errors import ConfigError
from metricloop.i18n import Locale
from metricloop.secrets import resolve_env
from metricloop.yamlio import load_model

PROJECT_FILE = "metricloop.yaml"
STATE_DIR = ".metricloop"

WarehouseType = Literal["duckdb", "postgres", "mysql", "clickhouse", "spark"]


class WarehouseConfig(BaseModel):
    """Where the metric data lives. DuckDB (embedded) by default; the others by URL:
    postgres/mysql a SQLAlchemy URL, clickhouse ``clickhouse://user:pw@host:8123/db`` (``chdb://``
    in-process), spark ``sc://host:15002`` (Spark Connect) or ``spark://local[2]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: WarehouseType = "duckdb"
    path: str | None = Field(default=None, description="DuckDB file, relative to the project folder.")
    url: str | None = Field(
        default=None,
        description="postgres/mysql: SQLAlchemy URL; clickhouse: clickhouse://user:pw@host:8123/db, clickhouses:// "
        "(HTTPS) or chdb://[/path]; spark: sc://host:15002 or spark://local[N]; ${ENV} allowed.",
    )
    schema_: str | None = Field(default=None, alias="schema", description="Default schema for tables.")

    @model_validator(mode="after")
    def _target(self) -> WarehouseConfig:
        if self.type != "duckdb" and not self.url:
            raise ValueError(f"a {self.type} warehouse needs 'url'")
        return self


class StateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        default=None, description="SQLAlchemy URL of the state store; default: SQLite in .metricloop/state.db"
    )


def as_utc(t: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Naive times are wall-clock in the project timezone; everything is stored in UTC."""
    return (t.replace(tzinfo=tz) if t.tzinfo is None else t).astimezone(dt.UTC)


class IngestSettings(BaseModel):
    """How loads started through the API may reach their sources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_private_urls: bool = Field(
        default=False,
        description="Let API loads fetch URLs on loopback, private, link-local (cloud metadata) or other "
        "internal addresses. Off by default: an editor could otherwise make the server read internal services.",
    )


class TableSpec(BaseModel):
    """Data-quality expectations for one warehouse table, checked after every load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_column: str | None = Field(default=None, description="Event-time column for freshness.")
    freshness_sla: str | None = Field(default=None, description="Max age of the newest row, e.g. '2 hours'.")
    max_row_drop: float | None = Field(
        default=None, ge=0, le=1, description="Fail when a load has this fraction fewer rows than the last."
    )
    max_null_rate: dict[str, float] = Field(default_factory=dict, description="Column → max share of NULLs.")
    unique_key: list[str] = Field(default_factory=list, description="Columns that must be unique together.")

    @field_validator("freshness_sla")
    @classmethod
    def _sla(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v


def parse_duration(text: str) -> dt.timedelta:
    """``'90 minutes'``, ``'2 hours'``, ``'1 day'``, ``'30s'`` → timedelta."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|second|m|min|minute|h|hour|d|day|w|week)s?\s*$", text, re.I)
    if not m:
        raise ValueError(f"{text!r} is not a duration like '30 minutes', '2 hours', '1 day'")
    unit = m.group(2).lower()[0]
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return dt.timedelta(seconds=float(m.group(1)) * seconds)


class ProjectConfig(BaseModel):
    """The shape of ``metricloop.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "metricloop"
    timezone: str = "Asia/Shanghai"
    locale: Locale = "zh-CN"
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    warehouses: dict[str, WarehouseConfig] = Field(default_factory=dict)
    state: StateConfig = Field(default_factory=StateConfig)
    tables: dict[str, TableSpec] = Field(default_factory=dict, description="Quality checks per table.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    base_url: str = Field(default="http://127.0.0.1:8000", description="Public URL for links in messages.")
    week_start: Literal["monday"] = "monday"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA timezone such as 'Asia/Shanghai' or 'UTC'") from None
        return v


class Project:
    """A project folder and its configuration; the paths every stage needs."""

    def __init__(self, root: Path, config: ProjectConfig) -> None:
        self.root = root.resolve()
        self.config = config

    @classmethod
    def load(cls, root: str | Path | None = None) -> Project:
        """Open the project at ``root`` (default: ``METRICLOOP_PROJECT`` or the current folder)."""
        path = Path(root or os.environ.get("METRICLOOP_PROJECT") or ".").expanduser()
        cfg_file = path / PROJECT_FILE
        if not cfg_file.exists():
            raise ConfigError(
                f"no {PROJECT_FILE} in {path.resolve()} (run 'metricloop init DIR' or pass --project DIR)",
                zh=f"{path.resolve()} 中没有 {PROJECT_FILE}（先运行 'metricloop init DIR' 或指定 --project DIR）",
            )
        return cls(path, load_model(ProjectConfig, cfg_file, path))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    @property
    def state_dir(self) -> Path:
        d = self.root / STATE_DIR
        d.mkdir(exist_ok=True)
        return d

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def files(self, folder: str) -> list[Path]:
        d = self.root / folder
        return sorted([*d.glob("*.yaml"), *d.glob("*.yml")]) if d.is_dir() else []

    def warehouse(self, name: str | None = None) -> WarehouseConfig:
        if not name or name == "default":
            return self.config.warehouse
        if name not in self.config.warehouses:
            known = ", ".join(["default", *self.config.warehouses]) or "default"
            raise ConfigError(f"unknown warehouse '{name}' (known: {known})", zh=f"未知数据仓库 '{name}'")
        return self.config.warehouses[name]

    def duckdb_path(self, cfg: WarehouseConfig | None = None) -> Path:
        cfg = cfg or self.config.warehouse
        return self.root / (cfg.path or "warehouse.duckdb")

    def state_url(self) -> str:
        env = os.environ.get("METRICLOOP_STATE_URL")
        if env:
            return env
        if self.config.state.url:
            return resolve_env(self.config.state.url, field="state.url")
        return f"sqlite:///{self.state_dir / 'state.db'}"
