"""Read what the warehouse holds for one repository back into Arrow, fast.

Rows come out through ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` and Polars' CSV reader (see
``core/csv_codec.py``): no Python object per row. COPY takes no bind parameters, so the PR numbers
wanted are COPYed into a TEMP table first and the repository id is rendered by psycopg's own
literal quoting (an integer from our own table, never user text).
"""

from __future__ import annotations

from collections.abc import Iterable
from io import BytesIO

import psycopg
import pyarrow as pa
from psycopg import sql

from prmon_pipeline.core import sql_snapshot, sql_text
from prmon_pipeline.core.check_run_rows import PULL_REQUEST_ID_SCHEMA
from prmon_pipeline.core.csv_codec import decode_csv
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
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
    if numbers is not None:
        numbers = list(numbers)
        if not numbers:  # nothing was touched: nothing to compare against
            return PULL_REQUEST_SCHEMA.empty_table(), CHECK_RUN_SCHEMA.empty_table()
    repository = sql.Literal(repository_id)
    outermost = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if outermost:
            conn.execute(sql_snapshot.repeatable_read_sql())
        staged = numbers is not None
        if numbers is not None:
            _stage_numbers(conn, numbers)
        prs_query = sql.SQL(sql_snapshot.snapshot_pull_requests_sql(numbers_staged=staged))
        runs_query = sql.SQL(sql_snapshot.snapshot_check_runs_sql(numbers_staged=staged))
        prs = decode_csv(
            copy_out(conn, prs_query.format(repository=repository)), PULL_REQUEST_SCHEMA
        )
        runs = decode_csv(
            copy_out(conn, runs_query.format(repository=repository)), CHECK_RUN_SCHEMA
        )
    return prs, runs


def _stage_numbers(conn: Conn, numbers: Iterable[int]) -> None:
    conn.execute(sql_snapshot.drop_snapshot_numbers_sql())  # an earlier slice's
    conn.execute(sql_snapshot.create_snapshot_numbers_sql())
    with conn.cursor() as cursor, cursor.copy(sql_snapshot.copy_snapshot_numbers_sql()) as copy:
        copy.write("".join(f"{int(n)}\n" for n in sorted(set(numbers))))
