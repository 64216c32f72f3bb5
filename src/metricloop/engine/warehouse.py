"""Warehouse adapters: run compiled SQL where the data lives and return an Arrow table.

DuckDB is the embedded default; PostgreSQL and MySQL/MariaDB go through SQLAlchemy. Only
aggregates travel back: the compiler pushes all grouping and filtering down to the engine.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from metricloop.errors import QueryError, StoreError
from metricloop.secrets import redact

if TYPE_CHECKING:  # pyarrow (and numpy) load only when a table is built: `metricloop query` reads rows
    import pyarrow as pa


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
        self._reads_outside: dict[tuple[Any, ...], bool] = {}  # per file version: see data_version

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
        import pyarrow as pa

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

    def rows(self, sql: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and Python rows without Arrow: a one-shot CLI read need not import pyarrow."""
        import duckdb

        cur = self.connection.cursor()
        try:
            rel = cur.sql(sql, params=params or None)
            if rel is None:
                return [], []
            return list(rel.columns), rel.fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"warehouse error: {exc}", zh=f"数据仓库执行出错：{exc}") from None
        finally:
            cur.close()

    def data_version(self) -> tuple[Any, ...] | None:
        """The file's and its write-ahead log's size and modification time: a committed write
        changes one of them, whichever process or connection made it. None (results are not
        cached) in memory, and when the file reads data it does not hold — a view over Parquet or
        CSV files, another attached database — whose changes leave the file untouched."""
        if self.path in ("", ":memory:") or self.path.startswith(":memory:"):
            return None
        out: list[Any] = [self.path]
        for name in (self.path, self.path + ".wal"):
            try:
                st = os.stat(name)
            except OSError:
                out.append(None)
            else:
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        version = tuple(out)
        outside = self._reads_outside.get(version)
        if outside is None:  # views and attachments are written to the file: asked once per version
            outside = self._reads_outside_now()
            self._reads_outside = {version: outside}
        return None if outside else version

    def _reads_outside_now(self) -> bool:
        """Whether a view reads files or the connection has other databases attached."""
        from metricloop.engine.cache import EXTERNAL

        cur = self.connection.cursor()
        try:
            views = cur.execute("select sql from duckdb_views() where not internal").fetchall()
            attached = cur.execute(
                "select count(*) from duckdb_databases() "
                "where not internal and database_name <> current_database()").fetchone()
        finally:
            cur.close()
        return bool(attached and attached[0]) or any(EXTERNAL.search(sql or "") for (sql,) in views)

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
        import pyarrow as pa
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


def _naive_times(table: pa.Table) -> pa.Table:
    """Timestamps with a time zone (ClickHouse answers in UTC) as naive wall-clock times, as the
    other engines return them; the compiler's times are naive throughout."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = []
    changed = False
    for col in table.columns:
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = pc.local_timestamp(col) if col.type.tz not in ("UTC", "Etc/UTC") else col.cast(
                pa.timestamp(col.type.unit))
            changed = True
        elif pa.types.is_date32(col.type) or pa.types.is_date64(col.type):
            col = col.cast(pa.timestamp("us"))
            changed = True
        cols.append(col)
    return pa.table(cols, names=table.column_names) if changed else table


_SPARK_LOCK = threading.Lock()  # guards the process-wide chdb and Spark sessions

#: ClickHouse settings every MetricLoop query needs: an outer join's missing side is NULL (not 0
#: or ''), an aggregate over no rows is NULL (not 0), as in SQL everywhere else; COUNT(DISTINCT)
#: is exact whatever the server's default (uniqExact, never the approximate uniq)
CLICKHOUSE_SETTINGS = {"join_use_nulls": 1, "aggregate_functions_null_for_empty": 1,
                       "session_timezone": "UTC", "use_variant_as_common_type": 0,
                       "count_distinct_implementation": "uniqExact"}


class ClickHouseWarehouse:
    """ClickHouse: in-process through chdb (``chdb://`` in memory, ``chdb:///path`` on disk) or a
    server through clickhouse-connect (``clickhouse://user:password@host:8123/db``,
    ``clickhouses://`` for HTTPS)."""

    dialect = "clickhouse"

    def __init__(self, url: str | None = None) -> None:
        from urllib.parse import unquote, urlparse

        self.url = url or "chdb://"
        self._lock = threading.Lock()
        parts = urlparse(self.url)
        self._client: Any = None
        self._session: Any = None
        if parts.scheme == "chdb":
            path = unquote(parts.path) if parts.path not in ("", "/") else ""
            self._session = _chdb_session(path)
        elif parts.scheme in ("clickhouse", "clickhouses", "clickhouse+http", "clickhouse+https"):
            import clickhouse_connect

            secure = parts.scheme in ("clickhouses", "clickhouse+https")
            try:
                self._client = clickhouse_connect.get_client(
                    host=parts.hostname or "localhost", port=parts.port or (8443 if secure else 8123),
                    username=unquote(parts.username or "default"), password=unquote(parts.password or ""),
                    database=parts.path.strip("/") or "default", secure=secure, settings=CLICKHOUSE_SETTINGS)
            except Exception as exc:  # the driver's own errors: connection refused, bad credentials
                raise QueryError(f"cannot connect to ClickHouse: {redact(str(exc)).splitlines()[0]}",
                                 zh="无法连接 ClickHouse") from None
        else:
            raise QueryError(f"ClickHouse url {redact(self.url)!r}: expected chdb://, chdb:///path, "
                             "clickhouse://user:password@host:8123/db or clickhouses://...",
                             zh="ClickHouse 地址应为 chdb:// 或 clickhouse://user:password@host:8123/db")

    def execute(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        import pyarrow as pa

        if params:
            raise QueryError("ClickHouse queries take no positional parameters")
        try:
            with self._lock:
                if self._session is not None:
                    out = self._session.query(sql, "ArrowTable")
                    table = out if isinstance(out, pa.Table) else pa.table({})
                else:
                    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
                    if head in ("SELECT", "WITH", "(") or head.startswith("("):
                        table = self._client.query_arrow(sql, use_strings=True)
                    else:
                        self._client.command(sql)
                        table = pa.table({})
        except QueryError:
            raise
        except Exception as exc:  # chdb raises RuntimeError, clickhouse-connect its DatabaseError
            raise QueryError(f"warehouse error: {redact(str(exc)).splitlines()[0][:500]}",
                             zh="数据仓库执行出错") from None
        return _naive_times(table)

    def close(self) -> None:
        """Closes a server connection; the process's chdb session stays (chdb keeps one engine)."""
        with self._lock:
            self._session = None
            if self._client is not None:
                self._client.close()
                self._client = None


_CHDB: dict[str, Any] = {}


def _chdb_session(path: str) -> Any:
    """The process's chdb session for ``path`` ('' in memory), with MetricLoop's settings."""
    with _SPARK_LOCK:
        if path not in _CHDB:
            from chdb import session

            sess = session.Session(path) if path else session.Session()
            for k, v in CLICKHOUSE_SETTINGS.items():
                sess.query(f"SET {k} = {v!r}" if isinstance(v, str) else f"SET {k} = {v}")
            _CHDB[path] = sess
        return _CHDB[path]


class SparkWarehouse:
    """Spark SQL: ``spark://local[2]`` (local mode, in this process's JVM) or a cluster through
    Spark Connect (``sc://host:15002``). One SparkSession per process is shared."""

    dialect = "spark"

    def __init__(self, url: str | None = None) -> None:
        self.url = url or "spark://local[2]"
        self._lock = threading.Lock()
        self.session: Any = spark_session(self.url)

    def execute(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        import pyarrow as pa

        if params:
            raise QueryError("Spark queries take no positional parameters")
        try:
            df = self.session.sql(sql)
            if not df.columns:
                return pa.table({})
            to_arrow = getattr(df, "toArrow", None)
            table = to_arrow() if to_arrow is not None else pa.Table.from_pandas(df.toPandas(), preserve_index=False)
        except Exception as exc:  # Spark's AnalysisException / Py4J / Connect errors
            raise QueryError(f"warehouse error: {redact(str(exc)).splitlines()[0][:500]}",
                             zh="数据仓库执行出错") from None
        return _naive_times(table)

    def create_table(self, name: str, columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
        """Create ``name`` (``db.table``) with ``columns`` (name, Spark SQL type) holding ``rows``."""
        schema = ", ".join(f"`{c}` {t}" for c, t in columns)
        df = self.session.createDataFrame(rows or [], schema=schema)
        df.write.mode("overwrite").saveAsTable(name)

    def close(self) -> None:
        """The session stays up for the process (starting a JVM costs seconds)."""


_SPARK: dict[str, Any] = {}


def spark_session(url: str) -> Any:
    """The process's SparkSession for ``url``: ``spark://local[N]`` or ``sc://host:port`` (Connect)."""
    with _SPARK_LOCK:
        if url in _SPARK:
            return _SPARK[url]
        from pyspark.sql import SparkSession

        if url.startswith("sc://"):
            session = SparkSession.builder.remote(url).getOrCreate()
        elif url.startswith("spark://local"):
            import tempfile

            master = url[len("spark://"):]
            warehouse_dir = tempfile.mkdtemp(prefix="metricloop-spark-")
            session = (
                SparkSession.builder.master(master)
                .appName("metricloop")
                .config("spark.sql.warehouse.dir", warehouse_dir)
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.shuffle.partitions", "1")  # aggregates are small; local mode
                .config("spark.default.parallelism", "1")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse_dir}")
                .getOrCreate()
            )
            session.sparkContext.setLogLevel("ERROR")
        else:
            raise QueryError(f"Spark url {redact(url)!r}: expected spark://local[N] or sc://host:port",
                             zh="Spark 地址应为 spark://local[N] 或 sc://host:port")
        _SPARK[url] = session
        return session


WAREHOUSE_TYPES = ("duckdb", "postgres", "mysql", "clickhouse", "spark")


def open_warehouse(kind: str, url: str | None = None, path: Path | str | None = None) -> Warehouse:
    """The adapter for a ``warehouse.type``: duckdb (``path``), postgres / mysql (SQLAlchemy ``url``),
    clickhouse (``chdb://`` or ``clickhouse://...``), spark (``spark://local[N]`` or ``sc://...``)."""
    if kind == "duckdb":
        return DuckDBWarehouse(path or ":memory:")
    if kind in ("postgres", "mysql"):
        if not url:
            raise QueryError(f"a {kind} warehouse needs a url", zh=f"{kind} 数据仓库需要 url")
        return SQLAlchemyWarehouse(url)
    if kind == "clickhouse":
        return ClickHouseWarehouse(url)
    if kind == "spark":
        return SparkWarehouse(url)
    raise QueryError(f"unknown warehouse type '{kind}' (expected one of: {', '.join(WAREHOUSE_TYPES)})",
                     zh=f"未知的数据仓库类型 '{kind}'")
