"""Column types and names of a load, parsed as data, never pasted into SQL as given.

A declared type (``--schema``, the API's ``schema``) is parsed by sqlglot as a DuckDB data type
and must be one of a short whitelist; the SQL then uses *our* spelling of that type, so no text
of the request reaches the warehouse. Column names are always quoted as identifiers.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import SqlglotError

from metricloop.errors import IngestError

T = exp.DataType.Type
# sqlglot type -> the DuckDB spelling used in generated SQL
_NAMES: dict[object, str] = {
    T.BIGINT: "BIGINT",
    T.INT: "INTEGER",
    T.SMALLINT: "SMALLINT",
    T.TINYINT: "TINYINT",
    T.INT128: "HUGEINT",
    T.UBIGINT: "UBIGINT",
    T.UINT: "UINTEGER",
    T.USMALLINT: "USMALLINT",
    T.UTINYINT: "UTINYINT",
    T.DOUBLE: "DOUBLE",
    T.FLOAT: "FLOAT",
    T.TEXT: "VARCHAR",
    T.VARCHAR: "VARCHAR",
    T.BOOLEAN: "BOOLEAN",
    T.DATE: "DATE",
    T.TIMESTAMP: "TIMESTAMP",
    T.TIMESTAMPNTZ: "TIMESTAMP",
    T.TIMESTAMPTZ: "TIMESTAMPTZ",
    T.TIME: "TIME",
}
ALLOWED = sorted({*_NAMES.values(), "DECIMAL(p,s)"})
INTEGERS = frozenset({"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT",
                      "UTINYINT"})
FLOATS = frozenset({"DOUBLE", "FLOAT"})
MAX_TYPE_TEXT = 64
MAX_COLUMN_NAME = 128


def quote(name: str) -> str:
    """``name`` as a DuckDB identifier: always quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """``value`` as a SQL string literal (for file paths handed to DuckDB's readers)."""
    return "'" + value.replace("'", "''") + "'"


def short(value: object, limit: int = 60) -> str:
    """At most ``limit`` characters of ``value`` for an error message (input is quoted, never in full)."""
    text = str(value).replace("\x00", "\\0")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_column_name(name: str, *, field: str) -> str:
    """A column name we can quote: 1-128 characters, no control characters."""
    if not isinstance(name, str) or not name or len(name) > MAX_COLUMN_NAME or any(ord(c) < 32 for c in name):
        raise IngestError(
            f"{field}: column name {short(name)!r} must be 1-{MAX_COLUMN_NAME} characters without control characters",
            zh=f"{field}：列名 {short(name)!r} 必须为 1-{MAX_COLUMN_NAME} 个字符且不含控制字符",
        )
    return name


def canonical_type(text: str) -> str | None:
    """Our DuckDB spelling of ``text`` if it is a whitelisted data type, else None."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TYPE_TEXT:
        return None
    try:
        dtype = exp.DataType.build(text.strip(), dialect="duckdb")
    except (SqlglotError, TypeError, ValueError):
        return None
    if not isinstance(dtype, exp.DataType):
        return None
    if dtype.this == T.DECIMAL:
        args = dtype.expressions
        try:
            nums = [int(a.sql()) for a in args]
        except ValueError:
            return None
        if len(nums) > 2:
            return None
        precision = nums[0] if nums else 18
        scale = nums[1] if len(nums) == 2 else (0 if nums else 3)
        if not (1 <= precision <= 38 and 0 <= scale <= precision):
            return None
        return f"DECIMAL({precision},{scale})"
    if dtype.expressions or dtype.this not in _NAMES:
        return None
    return _NAMES[dtype.this]


def parse_schema(schema: dict[str, str] | None, *, field: str = "schema") -> dict[str, str] | None:
    """Declared column types, each parsed as a data type; an error names the field and what is allowed."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise IngestError(f"{field} must map column names to types", zh=f"{field} 必须是列名到类型的映射")
    out: dict[str, str] = {}
    for col, typ in schema.items():
        check_column_name(col, field=field)
        canon = canonical_type(typ)
        if canon is None:
            raise IngestError(
                f"{field}.{short(col, 40)}: type {short(typ, 40)!r} is not one of {', '.join(ALLOWED)}",
                zh=f"{field}.{short(col, 40)}：类型 {short(typ, 40)!r} 不是以下之一：{', '.join(ALLOWED)}",
            )
        out[col] = canon
    return out
