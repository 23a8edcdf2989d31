"""Packed ``(key…, digest)`` records from the warehouse, unpacked into Arrow without a row loop.

``core.sql_snapshot.packed_digests_select`` sends each stored row's keys (``int8send``: 8 bytes,
big-endian) and its 16-byte digest as one fixed-width record, many records to a ``bytea`` value:
a client pays per row received, and 300k digests as rows cost as much as 300k full rows. Here a
value becomes a fixed-size-binary Arrow array over the same bytes (no copy), and Polars slices
each field out of it. An all-zero digest is the warehouse's "NULL or malformed": it becomes null,
so the row's incoming digest never equals it and the row is read in full.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa

from prmon_pipeline.core.digests import DIGEST_BYTES, DIGEST_COLUMN
from prmon_pipeline.core.normalise import conform

KEY_BYTES = 8
ZERO_DIGEST = bytes(DIGEST_BYTES)


def record_keys(schema: pa.Schema) -> list[str]:
    """The key columns of a digest schema: every column but the digest, each an int64."""
    return [name for name in schema.names if name != DIGEST_COLUMN]


def decode_digest_records(values: Sequence[bytes], schema: pa.Schema) -> pa.Table:
    """The records packed in ``values`` as a table of ``schema`` (a ``*_DIGEST_SCHEMA``)."""
    keys = record_keys(schema)
    width = KEY_BYTES * len(keys) + DIGEST_BYTES
    data = b"".join(values)
    if len(data) % width:
        raise ValueError(f"packed digests of {len(data)} bytes are not {width}-byte records")
    count = len(data) // width
    records = pa.Array.from_buffers(pa.binary(width), count, [None, pa.py_buffer(data)])
    frame = pl.DataFrame({"record": pl.from_arrow(records)})
    record = pl.col("record")
    digest = record.bin.slice(KEY_BYTES * len(keys), DIGEST_BYTES)
    unpacked = frame.select(
        *(
            record.bin.slice(KEY_BYTES * position, KEY_BYTES)
            .bin.reinterpret(dtype=pl.Int64, endianness="big")
            .alias(name)
            for position, name in enumerate(keys)
        ),
        pl.when(digest == ZERO_DIGEST).then(None).otherwise(digest).alias(DIGEST_COLUMN),
    )
    return conform(unpacked, schema)
