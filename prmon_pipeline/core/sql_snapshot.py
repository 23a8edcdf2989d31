"""SQL text of the snapshot reads: what the warehouse holds for one repository, as COPY queries.

The reads run as ``COPY (query) TO STDOUT (FORMAT csv)``, and COPY takes no bind parameters. So
these are templates for psycopg's ``sql.SQL``, as ``sql_text.pull_request_ids_sql`` is: the one
placeholder, ``{repository}``, is filled with ``sql.Literal`` of the repository id (an integer
from our own table, never user text). The PR numbers wanted are COPYed into a TEMP table first
(:func:`create_snapshot_numbers_sql`). Select lists come from the Arrow schemas
(``csv_codec.snapshot_select_sql``), so the CSV decodes straight into them.
"""

from __future__ import annotations

import pyarrow as pa

from prmon_pipeline.core.csv_codec import snapshot_select_sql
from prmon_pipeline.core.schemas import (
    CHECK_RUN_SCHEMA,
    PULL_REQUEST_SCHEMA,
    TEXT,
    TIMESTAMP,
    arrow_schema,
)
from prmon_pipeline.core.sql_text import qualified, quote_ident

SNAPSHOT_NUMBERS = "snapshot_numbers"

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


def repeatable_read_sql() -> str:
    """One snapshot for both reads, so the PRs and their check runs agree with each other."""
    return "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"


def copy_to_csv_sql() -> str:
    """The COPY wrapped around a snapshot query (a template: ``{query}``)."""
    return "COPY ({query}) TO STDOUT (FORMAT csv)"


def pull_request_index_sql() -> str:
    """Every live PR of ``{repository}`` with its head SHA and check-run progress."""
    return (
        f"SELECT {snapshot_select_sql(PULL_REQUEST_INDEX_SCHEMA, 'i')}"
        " FROM (SELECT p.number, p.head_sha, p.state, p.updated_at, p.closed_at,"
        " count(c.id) AS check_runs,"
        " coalesce(bool_or(c.status <> 'completed'), false) AS checks_pending"
        f" FROM {qualified('pull_requests')} p LEFT JOIN {qualified('check_runs')} c"
        " ON c.pull_request_id = p.id AND c.head_sha = p.head_sha"
        " WHERE p.repository_id = {repository} AND p.deleted_at IS NULL"
        " GROUP BY p.id) AS i ORDER BY number"
    )


def _wanted(numbers_staged: bool) -> str:
    if not numbers_staged:
        return ""
    return f" AND p.number IN (SELECT number FROM {quote_ident(SNAPSHOT_NUMBERS)})"


def snapshot_pull_requests_sql(*, numbers_staged: bool) -> str:
    """The live PRs of ``{repository}`` in ``PULL_REQUEST_SCHEMA``; only the staged numbers' if
    ``numbers_staged``, else all (full mode)."""
    return (
        f"SELECT {snapshot_select_sql(PULL_REQUEST_SCHEMA, 'p')}"
        f" FROM {qualified('pull_requests')} p"
        " WHERE p.repository_id = {repository} AND p.deleted_at IS NULL" + _wanted(numbers_staged)
    )


def snapshot_check_runs_sql(*, numbers_staged: bool) -> str:
    """The check runs of those PRs in ``CHECK_RUN_SCHEMA`` (``pr_number`` from the join)."""
    columns = snapshot_select_sql(CHECK_RUN_SCHEMA, "c", {"pr_number": "p.pr_number"})
    return (
        f"SELECT {columns} FROM {qualified('check_runs')} c"
        f" JOIN (SELECT p.id, p.number AS pr_number FROM {qualified('pull_requests')} p"
        " WHERE p.repository_id = {repository} AND p.deleted_at IS NULL"
        + _wanted(numbers_staged)
        + ") p ON c.pull_request_id = p.id WHERE c.repository_id = {repository}"
    )


def drop_snapshot_numbers_sql() -> str:
    """Drop an earlier slice's numbers (same transaction); ``pg_temp``: never a warehouse table."""
    return f"DROP TABLE IF EXISTS pg_temp.{quote_ident(SNAPSHOT_NUMBERS)}"


def create_snapshot_numbers_sql() -> str:
    """The TEMP table of the PR numbers a snapshot reads, dropped at the end of the transaction."""
    return (
        f"CREATE TEMP TABLE {quote_ident(SNAPSHOT_NUMBERS)} (number bigint PRIMARY KEY)"
        " ON COMMIT DROP"
    )


def copy_snapshot_numbers_sql() -> str:
    """COPY the numbers (one per line, text format) into the TEMP table."""
    return f"COPY {quote_ident(SNAPSHOT_NUMBERS)} (number) FROM STDIN"
