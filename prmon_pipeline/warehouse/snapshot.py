"""Read what the warehouse holds for one repository back into Arrow, fast.

Rows come out through ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` and Polars' CSV reader (see
``core/csv_codec.py``): no Python object per row. COPY takes no bind parameters, so the PR numbers
wanted are COPYed into a TEMP table first and the repository id is rendered by psycopg's own
literal quoting (an integer from our own table, never user text).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO

import polars as pl
import psycopg
import pyarrow as pa
from psycopg import sql

from prmon_pipeline.core import sql_snapshot, sql_text
from prmon_pipeline.core.changeset_digests import (
    DigestComparison,
    compare_digests,
    digest_incoming,
)
from prmon_pipeline.core.check_run_rows import PULL_REQUEST_ID_SCHEMA
from prmon_pipeline.core.csv_codec import decode_csv
from prmon_pipeline.core.digest_records import decode_digest_records
from prmon_pipeline.core.normalise import to_frame
from prmon_pipeline.core.schemas import (
    CHECK_RUN_DIGEST_SCHEMA,
    CHECK_RUN_SCHEMA,
    PULL_REQUEST_DIGEST_SCHEMA,
    PULL_REQUEST_SCHEMA,
)
from prmon_pipeline.core.sql_snapshot import PULL_REQUEST_INDEX_SCHEMA

Conn = psycopg.Connection[tuple[object, ...]]


def copy_out(conn: Conn, query: sql.Composable) -> bytes:
    """The CSV that ``COPY (query) TO STDOUT`` sends, in one buffer."""
    buffer = BytesIO()
    with (
        conn.cursor() as cursor,
        cursor.copy(sql.SQL(sql_snapshot.copy_to_csv_sql()).format(query=query)) as copy,
    ):
        for chunk in copy:
            buffer.write(chunk)
    return buffer.getvalue()


def read_pull_request_ids(conn: Conn, repository_id: int) -> pa.Table:
    """Every PR of the repository as ``number, id`` (deleted ones too): what resolves a check
    run's PR number to the row it references."""
    query = sql.SQL(sql_text.pull_request_ids_sql()).format(repository=sql.Literal(repository_id))
    return decode_csv(copy_out(conn, query), PULL_REQUEST_ID_SCHEMA)


def read_pull_request_index(conn: Conn, repository_id: int) -> pa.Table:
    """Every live PR of the repository with its head SHA and check-run progress."""
    query = sql.SQL(sql_snapshot.pull_request_index_sql()).format(
        repository=sql.Literal(repository_id)
    )
    return decode_csv(copy_out(conn, query), PULL_REQUEST_INDEX_SCHEMA)


@contextmanager
def _snapshot_transaction(conn: Conn) -> Iterator[None]:
    """One REPEATABLE READ transaction for all of a snapshot's reads, or the caller's own."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with conn.transaction():
            yield
        return
    previous = conn.isolation_level
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # in the BEGIN: no round trip
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level = previous


def read_snapshot(
    conn: Conn, repository_id: int, numbers: Iterable[int] | None
) -> tuple[pa.Table, pa.Table]:
    """The stored PRs and check runs of the repository, for the changeset.

    ``numbers=None`` reads the whole repository (full mode); otherwise only those PRs and their
    check runs. Soft-deleted PRs are left out: to the changeset they are gone. Both tables are
    read in one REPEATABLE READ transaction so they agree with each other; called inside a load's
    transaction (a load fed in slices), they are read there, where the repository's lock keeps
    every other load out and the slices stored before are visible.
    """
    params = _snapshot_params(repository_id, numbers)
    if params is None:  # nothing was touched: nothing to compare against
        return _empty_rows()
    staged = "numbers" in params
    with _snapshot_transaction(conn):
        prs = _read(
            conn,
            sql_snapshot.snapshot_pull_requests_sql(numbers_staged=staged),
            PULL_REQUEST_SCHEMA,
            params,
        )
        runs = _read(
            conn,
            sql_snapshot.snapshot_check_runs_sql(numbers_staged=staged),
            CHECK_RUN_SCHEMA,
            params,
        )
    return prs, runs


def read_snapshot_by_digest(
    conn: Conn,
    repository_id: int,
    numbers: Iterable[int] | None,
    incoming_prs: pa.Table,
    incoming_check_runs: pa.Table,
) -> DigestSnapshot:
    """The digest-first snapshot (``core.changeset_digests``): ``(key, digest)`` of the same rows
    :func:`read_snapshot` would read, then in full only the rows whose digest differs from the
    incoming row's. One transaction, as :func:`read_snapshot`, so both reads agree.

    The stored PR digests come first (few and fast): only incoming rows of stored PRs are
    digested (``digest_incoming``), while the server collects the run digests in a worker
    thread, which waits in libpq without the GIL. No stored PR means no stored run: a cold
    sync then digests nothing and reads nothing more.
    """
    params = _snapshot_params(repository_id, numbers)
    if params is None:
        return _nothing_stored(incoming_prs, incoming_check_runs)
    staged = "numbers" in params
    with _snapshot_transaction(conn):
        stored_prs = _read_digests(
            conn,
            sql_snapshot.snapshot_pull_request_digests_sql(numbers_staged=staged),
            PULL_REQUEST_DIGEST_SCHEMA,
            params,
        )
        if stored_prs.num_rows == 0:
            return _nothing_stored(incoming_prs, incoming_check_runs)
        with ThreadPoolExecutor(max_workers=1) as worker:
            stored_runs = worker.submit(
                _read_digests,
                conn,
                sql_snapshot.snapshot_check_run_digests_sql(numbers_staged=staged),
                CHECK_RUN_DIGEST_SCHEMA,
                params,
            )
            stored_numbers = to_frame(stored_prs).get_column("number")
            incoming = digest_incoming(incoming_prs, incoming_check_runs, stored_numbers)
            comparison = compare_digests(incoming, stored_prs, stored_runs.result())
        prs, runs = _read_differing(conn, params["repository"], comparison)
    return DigestSnapshot(comparison, prs, runs)


def _nothing_stored(incoming_prs: pa.Table, incoming_check_runs: pa.Table) -> DigestSnapshot:
    """Every incoming row is new: nothing to digest, nothing to read."""
    incoming = digest_incoming(incoming_prs, incoming_check_runs, pl.Series([], dtype=pl.Int64))
    nothing = PULL_REQUEST_DIGEST_SCHEMA.empty_table(), CHECK_RUN_DIGEST_SCHEMA.empty_table()
    return DigestSnapshot(compare_digests(incoming, *nothing), *_empty_rows())


def _read_differing(
    conn: Conn, repository: sql.Composable, comparison: DigestComparison
) -> tuple[pa.Table, pa.Table]:
    """The stored rows of the keys whose digest differs, in full (their keys sent as literals)."""
    prs, runs = _empty_rows()
    numbers = comparison.differing_pr_numbers.column("number")
    if len(numbers):
        prs = _read(
            conn,
            sql_snapshot.snapshot_pull_requests_sql(numbers_staged=True),
            PULL_REQUEST_SCHEMA,
            {"repository": repository, "numbers": _int8_array(numbers.to_pylist())},
        )
    keys = comparison.differing_check_run_keys
    if keys.num_rows:
        query = sql.SQL(sql_snapshot.snapshot_check_runs_by_key_sql()).format(
            repository=repository,
            pr_numbers=_int8_array(keys.column("pr_number").to_pylist()),
            github_ids=_int8_array(keys.column("github_id").to_pylist()),
        )
        runs = decode_csv(copy_out(conn, query), CHECK_RUN_SCHEMA)
    return prs, runs


def _int8_array(values: Iterable[object]) -> sql.Literal:
    return sql.Literal(sql_snapshot.int8_array_text(int(str(value)) for value in values))


@dataclass(frozen=True)
class FullSnapshot:
    """A full-comparison snapshot: every touched stored row (:func:`read_snapshot`)."""

    pull_requests: pa.Table
    check_runs: pa.Table


@dataclass(frozen=True)
class DigestSnapshot:
    """A digest-first snapshot: the comparison, and the stored rows of the differing keys."""

    comparison: DigestComparison
    differing_pull_requests: pa.Table
    differing_check_runs: pa.Table


def _empty_rows() -> tuple[pa.Table, pa.Table]:
    return PULL_REQUEST_SCHEMA.empty_table(), CHECK_RUN_SCHEMA.empty_table()


def _snapshot_params(
    repository_id: int, numbers: Iterable[int] | None
) -> dict[str, sql.Composable] | None:
    """The templates' placeholders: the repository, and the wanted numbers unless all are
    (``numbers=None``); None when no number is wanted (nothing to read)."""
    params: dict[str, sql.Composable] = {"repository": sql.Literal(repository_id)}
    if numbers is not None:
        wanted = sorted(set(numbers))
        if not wanted:
            return None
        params["numbers"] = _int8_array(wanted)
    return params


def _read(
    conn: Conn, template: str, schema: pa.Schema, params: dict[str, sql.Composable]
) -> pa.Table:
    """One snapshot query, COPYed out and decoded into ``schema``."""
    return decode_csv(copy_out(conn, sql.SQL(template).format(**params)), schema)


def _read_digests(
    conn: Conn, template: str, schema: pa.Schema, params: dict[str, sql.Composable]
) -> pa.Table:
    """Packed digest records (``sql_snapshot.packed_digests_select``), unpacked into Arrow."""
    query = sql.SQL(template).format(**params)
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(query).fetchall()
    values = [value for (value,) in rows if isinstance(value, bytes)]
    return decode_digest_records(values, schema)
