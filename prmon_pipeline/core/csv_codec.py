"""Arrow tables to and from PostgreSQL's CSV COPY format, vectorised in Polars.

CSV through Polars' native writer and reader is the cheapest path between Arrow and ``COPY`` that
needs no extra driver: no Python object is made per row. Two details matter:

* PostgreSQL's CSV reads an unquoted empty field as NULL and ``""`` as the empty string; Polars
  writes exactly that, and reads it back the same way, so NULL and ``""`` survive the round trip.
* ``text[]`` columns are written as array literals (``{"a","b\\"c"}``, every element quoted and
  backslash-escaped) and read back through ``array_to_json`` (see :func:`snapshot_select_sql`),
  because CSV has no list type. Booleans travel as 0/1; timestamps go in as ISO 8601 with an
  offset and come out as epoch microseconds, so nothing depends on the server's ``DateStyle``.
  Binary (``bytea``, the row digests) goes in as ``\\x`` + hex, bytea's hex input format, and
  comes out through ``encode(…, 'hex')``, so nothing depends on ``bytea_output``.
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from typing import Any

import polars as pl
import pyarrow as pa

from prmon_pipeline.core.sql_text import quote_ident


def _array_literal(column: str) -> pl.Expr:
    quoted = (
        pl.lit('"')
        + pl.element()
        .str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all('"', '\\"', literal=True)
        + pl.lit('"')
    )
    items = pl.col(column).list.eval(quoted).list.join(",")
    return (pl.lit("{") + items + pl.lit("}")).alias(column)


def _csv_ready(field: pa.Field[Any]) -> pl.Expr:
    if pa.types.is_large_list(field.type) or pa.types.is_list(field.type):
        return _array_literal(field.name)
    if pa.types.is_boolean(field.type):
        return pl.col(field.name).cast(pl.Int8)
    if pa.types.is_timestamp(field.type):
        return pl.col(field.name).dt.to_string("%Y-%m-%dT%H:%M:%S%.6f+00:00")
    if _is_binary(field.type):
        return (pl.lit("\\x") + pl.col(field.name).bin.encode("hex")).alias(field.name)
    return pl.col(field.name)


def _is_binary(arrow_type: pa.DataType) -> bool:
    return pa.types.is_large_binary(arrow_type) or pa.types.is_binary(arrow_type)


def encode_csv(table: pa.Table) -> bytes:
    """The table as CSV rows (no header) for ``COPY ... FROM STDIN (FORMAT csv)``.

    Timestamps go out in ISO 8601 with an explicit offset, which ``timestamptz`` input accepts
    whatever the session's ``DateStyle`` and time zone. Polars writes the bytes into a buffer:
    asking it for a ``str`` and encoding that would build and copy the whole text twice more,
    which took as long as writing it (0.15 s for 300k check runs).
    """
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    buffer = BytesIO()
    frame.select([_csv_ready(f) for f in table.schema]).write_csv(
        buffer, include_header=False, null_value=""
    )
    return buffer.getvalue()


def snapshot_select_sql(
    schema: pa.Schema, alias: str, sources: Mapping[str, str] | None = None
) -> str:
    """Select-list that reads warehouse columns in the CSV shape :func:`decode_csv` expects.

    Columns come from table ``alias``, except those that ``sources`` maps to another expression.
    """
    parts = []
    for field in schema:
        column = (sources or {}).get(field.name, f"{alias}.{quote_ident(field.name)}")
        if pa.types.is_large_list(field.type) or pa.types.is_list(field.type):
            expr = f"array_to_json({column})::text"
        elif pa.types.is_boolean(field.type):
            expr = f"{column}::int"
        elif pa.types.is_timestamp(field.type):
            # numeric epoch (exact in PostgreSQL 14+), scaled to whole microseconds
            expr = f"(extract(epoch FROM {column}) * 1000000)::bigint"
        elif _is_binary(field.type):
            expr = f"encode({column}, 'hex')"
        else:
            expr = column
        parts.append(f"{expr} AS {quote_ident(field.name)}")
    return ", ".join(parts)


def _csv_dtype(field: pa.Field[Any]) -> pl.DataType:
    if pa.types.is_int64(field.type) or pa.types.is_timestamp(field.type):
        return pl.Int64()
    if pa.types.is_boolean(field.type):
        return pl.Int8()
    return pl.String()


def _decoded(field: pa.Field[Any]) -> pl.Expr:
    column = pl.col(field.name)
    if pa.types.is_large_list(field.type) or pa.types.is_list(field.type):
        return column.str.json_decode(pl.List(pl.String)).fill_null([]).alias(field.name)
    if pa.types.is_boolean(field.type):
        return column.cast(pl.Boolean)
    if pa.types.is_timestamp(field.type):
        return pl.from_epoch(column, time_unit="us").dt.replace_time_zone("UTC")
    if _is_binary(field.type):
        return column.str.decode("hex")
    return column


def decode_csv(data: bytes, schema: pa.Schema) -> pa.Table:
    """Parse CSV produced by ``COPY (SELECT <snapshot_select_sql>) TO STDOUT (FORMAT csv)``."""
    if not data:
        return schema.empty_table()
    frame = pl.read_csv(
        BytesIO(data),
        has_header=False,
        new_columns=list(schema.names),
        schema={f.name: _csv_dtype(f) for f in schema},
    )
    return conform(frame.select([_decoded(f) for f in schema]).to_arrow(), schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a table (from Polars, say) to exactly the schema's types and column order."""
    return table.select(list(schema.names)).cast(schema)
