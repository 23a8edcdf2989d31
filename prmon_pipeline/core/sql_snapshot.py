"""SQL text of the snapshot reads: what the warehouse holds for one repository, as COPY queries.

The reads run as ``COPY (query) TO STDOUT (FORMAT csv)``, and COPY takes no bind parameters. So
these are templates for psycopg's ``sql.SQL``, as ``sql_text.pull_request_ids_sql`` is:
``{repository}`` is filled with ``sql.Literal`` of the repository id (an integer from our own
table, never user text), and the PR numbers or run keys wanted go in as ``sql.Literal`` of an
``int8[]`` literal's text (:func:`int8_array_text`, integers only): a TEMP table of them took
three more round trips per read. Select lists come from the Arrow schemas
(``csv_codec.snapshot_select_sql``), so the CSV decodes straight into them.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from prmon_pipeline.core.csv_codec import snapshot_select_sql
from prmon_pipeline.core.digests import DIGEST_BYTES
from prmon_pipeline.core.schemas import (
    CHECK_RUN_SCHEMA,
    PULL_REQUEST_SCHEMA,
    TEXT,
    TIMESTAMP,
    arrow_schema,
)
from prmon_pipeline.core.sql_text import qualified

ZERO_DIGEST_HEX = "\\x" + "00" * DIGEST_BYTES
PACKED_DIGEST_LITERALS = ("", ZERO_DIGEST_HEX)
"""The only literals of the packed digest reads: the empty separator and the zero digest."""
_ZERO_DIGEST = f"'{ZERO_DIGEST_HEX}'::bytea"

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
    """Only the PRs numbered in ``{numbers}`` (an ``int8[]`` literal, ``int8_array_text``)."""
    return " AND p.number = ANY({numbers}::int8[])" if numbers_staged else ""


def _pull_requests_from(numbers_staged: bool) -> str:
    return (
        f" FROM {qualified('pull_requests')} p"
        " WHERE p.repository_id = {repository} AND p.deleted_at IS NULL" + _wanted(numbers_staged)
    )


def _check_runs_from(numbers_staged: bool) -> str:
    return (
        f" FROM {qualified('check_runs')} c"
        f" JOIN (SELECT p.id, p.number AS pr_number FROM {qualified('pull_requests')} p"
        " WHERE p.repository_id = {repository} AND p.deleted_at IS NULL"
        + _wanted(numbers_staged)
        + ") p ON c.pull_request_id = p.id WHERE c.repository_id = {repository}"
    )


def snapshot_pull_requests_sql(*, numbers_staged: bool) -> str:
    """The live PRs of ``{repository}`` in ``PULL_REQUEST_SCHEMA``; only the staged numbers' if
    ``numbers_staged``, else all (full mode)."""
    return f"SELECT {snapshot_select_sql(PULL_REQUEST_SCHEMA, 'p')}" + _pull_requests_from(
        numbers_staged
    )


def snapshot_check_runs_sql(*, numbers_staged: bool) -> str:
    """The check runs of those PRs in ``CHECK_RUN_SCHEMA`` (``pr_number`` from the join)."""
    columns = snapshot_select_sql(CHECK_RUN_SCHEMA, "c", {"pr_number": "p.pr_number"})
    return f"SELECT {columns}" + _check_runs_from(numbers_staged)


def packed_digests_select(keys: list[str], digest: str, from_clause: str) -> str:
    """Fixed-width ``(key…, digest)`` records, packed into one ``bytea`` value.

    A COPY or a result row per stored row costs the client ~2 µs in psycopg whatever its size:
    300k check runs took 0.7 s to arrive as rows, as long as reading them in full. Packed, each
    record is every key's ``int8send`` (8 bytes, big-endian) and the 16-byte digest (zeros when
    NULL or malformed: never a real digest, so the row is read in full), all in one value
    (32 bytes a run: ``bytea``'s 1 GB holds 30 million);
    ``core.digest_records.decode_digest_records`` unpacks them in Arrow. One aggregate, no
    grouping: splitting the value into chunks by ``row_number()`` cost the server ~0.1 s more
    on 300k runs. NULL when there is no row, like any aggregate.
    """
    fields = " || ".join(f"int8send({key})" for key in keys)
    checked = (
        f"CASE WHEN octet_length({digest}) = {DIGEST_BYTES} THEN {digest} ELSE {_ZERO_DIGEST} END"
    )
    return f"SELECT string_agg({fields} || {checked}, ''::bytea){from_clause}"


def snapshot_pull_request_digests_sql(*, numbers_staged: bool) -> str:
    """``(number, digest)`` of the live PRs, packed: a digest-first snapshot's first read."""
    return packed_digests_select(["p.number"], "p.digest", _pull_requests_from(numbers_staged))


def snapshot_check_run_digests_sql(*, numbers_staged: bool) -> str:
    """``(pr_number, github_id, digest)`` of those PRs' check runs, packed."""
    return packed_digests_select(
        ["p.pr_number", "c.github_id"], "c.digest", _check_runs_from(numbers_staged)
    )


def int8_array_text(values: Iterable[int]) -> str:
    """An ``int8[]`` literal's text (``{1,2,3}``), for ``sql.Literal(…)`` and a ``::int8[]`` cast.

    COPY takes no bind parameters; a few thousand keys as one literal cost the server less than
    a TEMP table (create, COPY, ANALYZE: three round trips and catalog rows) for a read that
    runs once.
    """
    return "{" + ",".join(str(int(value)) for value in values) + "}"


def snapshot_check_runs_by_key_sql() -> str:
    """The runs ``unnest({pr_numbers}, {github_ids})`` of ``{repository}``'s live PRs, in full.

    Driven by the keys: each is one probe of ``pull_requests``' and ``check_runs``' unique
    keys, so reading the few runs whose digest differs costs nothing per unread run (the
    planner sizes ``unnest`` of a constant array by its length).
    """
    columns = snapshot_select_sql(CHECK_RUN_SCHEMA, "c", {"pr_number": "p.number"})
    return (
        f"SELECT {columns}"
        " FROM unnest({pr_numbers}::int8[], {github_ids}::int8[]) AS k(pr_number, github_id)"
        f" JOIN {qualified('pull_requests')} p ON p.repository_id = {{repository}}"
        " AND p.number = k.pr_number AND p.deleted_at IS NULL"
        f" JOIN {qualified('check_runs')} c ON c.pull_request_id = p.id"
        " AND c.github_id = k.github_id"
    )
