"""Warehouse adapters: run compiled SQL where the data lives and return an Arrow table.

DuckDB is the embedded default; PostgreSQL and MySQL/MariaDB go through SQLAlchemy. Only
aggregates travel back: the compiler pushes all grouping and filtering down to the engine.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from metricloop.errors import QueryError, StoreError
from metricloop.secrets import redact


class Warehouse(Protocol):
    dialect: str

    def execute(self, sql: str, params: list[Any] | None = None) -> pa.Table: ...

    def close(self) -> None: ...


class DuckDBWarehouse:
    """An embedded DuckDB file (or ``:memory:``), one connection per process, cursors per call."""

    dialect = "duckdb"

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._con: Any = None
        self._lock = threading.Lock()

    @property
    def connection(self) -> Any:
        import duckdb

        with self._lock:
            if self._con is None:
                try:
                    self._con = duckdb.connect(self.path, read_only=self.read_only)
                except duckdb.IOException as exc:
                    raise StoreError(
                        f"cannot open warehouse {self.path}: {exc}", zh=f"无法打开数据仓库 {self.path}"
                    ) from None
            return self._con

    def execute(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        import duckdb

        cur = self.connection.cursor()
        try:
            rel = cur.sql(sql, params=params or None)
            if rel is None:
                return pa.table({})
            # DuckDB 2 names it to_arrow_table(); 1.x fetch_arrow_table()
            fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
            return fetch()
        except duckdb.Error as exc:
            raise QueryError(f"warehouse error: {exc}", zh=f"数据仓库执行出错：{exc}") from None
        finally:
            cur.close()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


class SQLAlchemyWarehouse:
    """PostgreSQL or MySQL/MariaDB through SQLAlchemy (psycopg / PyMySQL)."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self._engine = sa.create_engine(url, pool_pre_ping=True)
        name = self._engine.dialect.name
        self.dialect = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(name, name)

    def execute(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        import sqlalchemy as sa

        try:
            raw = self._engine.raw_connection()
            try:
                cur = raw.cursor()
                # the DB-API cursor directly: without parameters the driver does no %-interpolation
                # (MySQL's DATE_FORMAT patterns contain %Y)
                if params:
                    cur.execute(sql, tuple(params))
                else:
                    cur.execute(sql)
                if cur.description is None:
                    return pa.table({})
                cols = [d[0] for d in cur.description]
                rows = cur.fetchall()
                cur.close()
            finally:
                raw.close()
        except (sa.exc.SQLAlchemyError, self._engine.dialect.dbapi.Error) as exc:  # type: ignore[union-attr]
            raise QueryError(f"warehouse error: {redact(str(exc)).splitlines()[0]}") from None
        return pa.table({c: pa.array([_plain(r[i]) for r in rows]) for i, c in enumerate(cols)})

    def close(self) -> None:
        self._engine.dispose()


def _plain(value: Any) -> Any:
    import decimal

    return float(value) if isinstance(value, decimal.Decimal) else value


def open_warehouse(kind: str, url: str | None = None, path: Path | str | None = None) -> Warehouse:
    """The adapter for a ``warehouse.type``: duckdb (``path``), postgres / mysql (SQLAlchemy ``url``)."""
    if kind == "duckdb":
        return DuckDBWarehouse(path or ":memory:")
    if kind in ("postgres", "mysql"):
        if not url:
            raise QueryError(f"a {kind} warehouse needs a url", zh=f"{kind} 数据仓库需要 url")
        return SQLAlchemyWarehouse(url)
    raise QueryError(f"unknown warehouse type '{kind}'", zh=f"未知的数据仓库类型 '{kind}'")
