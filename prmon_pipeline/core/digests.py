"""Row digests: a 128-bit fingerprint of the fields the changeset compares, equal in Polars and SQL.

The changeset needs full stored rows only where something changed. Each stored PR and check run
carries ``digest``, a hash of its compared fields (every column but the key) in canonical form
(``core.normalise``); the snapshot reads ``(key, digest)``, and full rows only where the incoming
row's digest differs.

Why this construction and not a hash library:

- The digest must be computed identically by two engines: here (on incoming rows and by the load)
  and in PostgreSQL, because migration ``007_row_digests.sql`` fills the digests of rows stored
  before it existed, inside the database, so an upgraded warehouse needs no cold re-sync (a
  Python backfill would need a migration runner that executes Python; ours runs SQL files).
- It must be stable across library versions and platforms: Polars' ``hash`` is documented as
  unstable; ``polars-hash`` would be a compiled plugin pinned to Polars' plugin ABI for a job
  ``hashlib`` does in ~0.5 µs a row. SHA-256 is in both ``hashlib`` and PostgreSQL (11+), its
  output is fixed by FIPS 180-4, and unlike MD5 no one can craft two PR bodies with one digest.
  The first 16 bytes (128 bits) are kept: an accidental collision is out of reach at any size.
- The hashed bytes are a canonical text that both engines can build with plain string functions:
  each field, in schema order, becomes ``-`` when null, else ``<UTF-8 byte length>:<text>``. The
  length prefix makes the encoding injective (no separator can be forged by a value). Texts are
  as stored; booleans ``true``/``false``; integers in decimal; timestamps as epoch microseconds
  (no time zone or DateStyle involved); a text list is the concatenation of its items' tokens,
  tokenised again as one text (items sorted by byte order, which PostgreSQL's ``COLLATE "C"``
  matches); ``body`` ``""`` is null, as the canonical form says.

A compared column added to a schema changes every digest: the same change needs a migration that
redefines ``prmon.pull_request_digest`` / ``prmon.check_run_digest`` and refills the column. Until
then a stored digest merely differs and the full row is read: slower, never wrong.
"""

from __future__ import annotations

import hashlib

import polars as pl
import pyarrow as pa

from prmon_pipeline.core.normalise import conform, to_frame
from prmon_pipeline.core.schemas import (
    CHECK_RUN_KEY,
    CHECK_RUN_SCHEMA,
    DIGEST_FIELD,
    PULL_REQUEST_KEY,
    PULL_REQUEST_SCHEMA,
    STORED_CHECK_RUN_SCHEMA,
    STORED_PULL_REQUEST_SCHEMA,
)

DIGEST_COLUMN = DIGEST_FIELD.name
DIGEST_BYTES = 16
NULL_FIELD_TEXT = "-"
DIGESTED_PULL_REQUEST_COLUMNS: tuple[str, ...] = tuple(
    name for name in PULL_REQUEST_SCHEMA.names if name not in PULL_REQUEST_KEY
)
DIGESTED_CHECK_RUN_COLUMNS: tuple[str, ...] = tuple(
    name for name in CHECK_RUN_SCHEMA.names if name not in CHECK_RUN_KEY
)


def token(value: pl.Expr) -> pl.Expr:
    """``-`` for null, else ``<byte length>:<text>``: one field of the canonical text."""
    length = value.str.len_bytes().cast(pl.String)
    return pl.concat_str(length, pl.lit(":"), value).fill_null(NULL_FIELD_TEXT)


def field_text(name: str, arrow_type: pa.DataType) -> pl.Expr:
    """The text a field contributes before its token (null stays null).

    The canonical form is applied here too (lists sorted, ``""`` body null), so a digest never
    depends on whether its row was normalised: the load digests whatever rows it is given.
    """
    column = pl.col(name)
    if pa.types.is_timestamp(arrow_type):
        return column.dt.epoch("us").cast(pl.String)
    if pa.types.is_large_list(arrow_type) or pa.types.is_list(arrow_type):
        return _joined(column)
    if name == "body":
        return pl.when(column == "").then(None).otherwise(column)
    return column.cast(pl.String)


def _joined(column: pl.Expr) -> pl.Expr:
    """A text list as the concatenation of its items' tokens (the empty list as ``""``)."""
    return column.list.sort().list.eval(token(pl.element())).list.join("").fill_null("")


def canonical_text(schema: pa.Schema, columns: tuple[str, ...]) -> pl.Expr:
    """The text whose SHA-256 is the digest: every column's token, in order."""
    return pl.concat_str([token(field_text(name, schema.field(name).type)) for name in columns])


def digests_of(texts: pl.Series) -> pl.Series:
    """The first ``DIGEST_BYTES`` of SHA-256 of each text's UTF-8 bytes, as a Binary series.

    One ``hashlib`` call per row (~0.5 µs): Polars has no stable cryptographic hash of its own.
    """
    digests = [
        hashlib.sha256(data).digest()[:DIGEST_BYTES] for data in texts.cast(pl.Binary).to_list()
    ]
    return pl.Series(DIGEST_COLUMN, digests, dtype=pl.Binary)


def with_digests(frame: pl.DataFrame, schema: pa.Schema, columns: tuple[str, ...]) -> pl.DataFrame:
    """``frame`` with its ``digest`` column (the frame is expected in canonical form)."""
    texts = frame.select(canonical_text(schema, columns).alias("text")).to_series()
    return frame.with_columns(digests_of(texts))


def with_pull_request_digests(frame: pl.DataFrame) -> pl.DataFrame:
    """Canonical pull requests with the digest of their compared fields."""
    return with_digests(frame, PULL_REQUEST_SCHEMA, DIGESTED_PULL_REQUEST_COLUMNS)


def with_check_run_digests(frame: pl.DataFrame) -> pl.DataFrame:
    """Canonical check runs with the digest of their compared fields."""
    return with_digests(frame, CHECK_RUN_SCHEMA, DIGESTED_CHECK_RUN_COLUMNS)


def stored_pull_requests(table: pa.Table) -> pa.Table:
    """Pull requests as the load writes them: ``STORED_PULL_REQUEST_SCHEMA``, digest included."""
    return conform(with_pull_request_digests(to_frame(table)), STORED_PULL_REQUEST_SCHEMA)


def stored_check_runs(table: pa.Table) -> pa.Table:
    """Check runs as the load writes them: ``STORED_CHECK_RUN_SCHEMA``, digest included."""
    return conform(with_check_run_digests(to_frame(table)), STORED_CHECK_RUN_SCHEMA)
