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

from prmon_pipeline.core import sql_text
from prmon_pipeline.core.check_run_rows import PULL_REQUEST_ID_SCHEMA
from prmon_pipeline.core.csv_codec import decode_csv, snapshot_select_sql
from prmon_pipeline.core.schemas import (
    CHECK_RUN_SCHEMA,
    PULL_REQUEST_SCHEMA,
    TEXT,
    TIMESTAMP,
    arrow_schema,
)

Conn = psycopg.Connection[tuple[object, ...]]

PULL_REQUEST_INDEX_SCHEMA = arrow_schema(
    [
        pa.field("number", pa.int64(), nullable=False),
        pa.field("head_sha", TEXT, nullable=False),
        pa.field("state", TEXT, nullable=False),
        pa.field("updated_at", TIMESTAMP, nullable=False),
        pa.field("closed_at", TIMESTAMP),
        pa.field("check_runs", pa.int64(), nullable=False),
        pa.field("checks_pending", pa.bool_(), nullable=False),
    ]
)
"""What discovery needs to know of every stored PR: its head SHA and whether checks still run.

``check_runs`` and ``checks_pending`` count only runs on the PR's current head SHA: runs of an
old head are history and are not polled again.
"""


def copy_out(conn: Conn, query: sql.Composable) -> bytes:
    """The CSV that ``COPY (query) TO STDOUT`` sends, in one buffer."""
    buffer = BytesIO()
    with (
        conn.cursor() as cursor,
        cursor.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)) as copy,
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
    query = sql.SQL(
        "SELECT {cols} FROM (SELECT p.number, p.head_sha, p.state, p.updated_at, p.closed_at,"
        " count(c.id) AS check_runs,"
        " coalesce(bool_or(c.status <> 'completed'), false) AS checks_pending"
        " FROM prmon.pull_requests p LEFT JOIN prmon.check_runs c"
        " ON c.pull_request_id = p.id AND c.head_sha = p.head_sha"
        " WHERE p.repository_id = {repo} AND p.deleted_at IS NULL"
        " GROUP BY p.id) AS i ORDER BY number"
    ).format(
        cols=sql.SQL(snapshot_select_sql(PULL_REQUEST_INDEX_SCHEMA, "i")),
        repo=sql.Literal(repository_id),
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
    repo = sql.Literal(repository_id)
    outermost = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if outermost:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        if numbers is None:
            wanted = sql.SQL("")
        else:
            _stage_numbers(conn, numbers)
            wanted = sql.SQL(" AND p.number IN (SELECT number FROM snapshot_numbers)")
        prs_query = sql.SQL(
            "SELECT {cols} FROM prmon.pull_requests p"
            " WHERE p.repository_id = {repo} AND p.deleted_at IS NULL{wanted}"
        ).format(
            cols=sql.SQL(snapshot_select_sql(PULL_REQUEST_SCHEMA, "p")), repo=repo, wanted=wanted
        )
        runs_query = sql.SQL(
            "SELECT {cols} FROM prmon.check_runs c"
            " JOIN (SELECT p.id, p.number AS pr_number FROM prmon.pull_requests p"
            " WHERE p.repository_id = {repo} AND p.deleted_at IS NULL{wanted}) p"
            " ON c.pull_request_id = p.id WHERE c.repository_id = {repo}"
        ).format(
            cols=sql.SQL(snapshot_select_sql(CHECK_RUN_SCHEMA, "c", {"pr_number": "p.pr_number"})),
            repo=repo,
            wanted=wanted,
        )
        prs = decode_csv(copy_out(conn, prs_query), PULL_REQUEST_SCHEMA)
        runs = decode_csv(copy_out(conn, runs_query), CHECK_RUN_SCHEMA)
    return prs, runs


def _stage_numbers(conn: Conn, numbers: Iterable[int]) -> None:
    conn.execute("DROP TABLE IF EXISTS pg_temp.snapshot_numbers")  # an earlier slice's
    conn.execute("CREATE TEMP TABLE snapshot_numbers (number bigint PRIMARY KEY) ON COMMIT DROP")
    with conn.cursor() as cursor, cursor.copy("COPY snapshot_numbers (number) FROM STDIN") as copy:
        copy.write("".join(f"{int(n)}\n" for n in sorted(set(numbers))))
