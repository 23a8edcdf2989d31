"""SQL as text, generated from the Arrow schemas; executed elsewhere (``warehouse/``).

Identifiers are quoted in exactly one function, :func:`quote_ident`; values are never spliced into
the text — every statement takes ``%(name)s`` parameters, which psycopg binds. The column lists come
from :mod:`prmon_pipeline.core.schemas`, so a column added there reaches every statement at once.

The statements follow one load transaction (see ``warehouse/load.py``):

1. stage the changed rows in TEMP tables (``ON COMMIT DROP``) with ``COPY ... FROM STDIN``;
2. remember the states the touched PRs had (``prior_states``) before anything changes;
3. ``MERGE`` pull requests, newest wins: a staged row older than the stored ``updated_at`` never
   overwrites it, and an identical row is not rewritten (``IS DISTINCT FROM``), which halves the
   WAL of a re-sync;
4. ``MERGE`` check runs, never moving a run backwards in its life cycle; when the repository has
   no check run stored yet, every incoming run is new and they are COPYed straight into the table
   instead, their PR numbers resolved to ids by the client;
5. write ``pr_state_history`` from the rows as they now are against ``prior_states``, so a
   transition is recorded exactly when this transaction made it.

MERGE: https://www.postgresql.org/docs/15/sql-merge.html (no RETURNING before PostgreSQL 17, so
counts come from the statement's row count and from the staged keys).
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from prmon_pipeline.core.schemas import STORED_CHECK_RUN_SCHEMA, STORED_PULL_REQUEST_SCHEMA
from prmon_pipeline.core.state_history import recorded_transition_sql

SCHEMA = "prmon"
STAGE_PULL_REQUESTS = "stage_pull_requests"
STAGE_CHECK_RUNS = "stage_check_runs"
STAGE_CHECK_RUN_ETAGS = "stage_check_run_etags"
PRIOR_STATES = "prior_states"

# Check-run statuses in life-cycle order: a load never moves a run to an earlier rank.
CHECK_RUN_STATUS_RANK = {
    "queued": 0,
    "waiting": 0,
    "requested": 0,
    "pending": 0,
    "in_progress": 1,
    "completed": 2,
}


def quote_ident(name: str) -> str:
    """Quote one SQL identifier (the only place identifiers are quoted)."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    """A table of the warehouse schema, quoted."""
    return f"{quote_ident(SCHEMA)}.{quote_ident(table)}"


def sql_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type that holds an Arrow type of the schemas."""
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz"
    if pa.types.is_large_string(arrow_type) or pa.types.is_string(arrow_type):
        return "text"
    if pa.types.is_large_binary(arrow_type) or pa.types.is_binary(arrow_type):
        return "bytea"
    if pa.types.is_large_list(arrow_type) or pa.types.is_list(arrow_type):
        return sql_type(arrow_type.value_type) + "[]"
    raise TypeError(f"no PostgreSQL type for Arrow type {arrow_type}")


def column_list(columns: Iterable[str], prefix: str = "") -> str:
    """``a, b, c`` (or ``s.a, s.b, s.c`` with a prefix), quoted."""
    return ", ".join(f"{prefix}{quote_ident(c)}" for c in columns)


def create_staging_table_sql(name: str, schema: pa.Schema) -> str:
    """A TEMP table with the schema's columns, dropped when the transaction ends."""
    columns = ", ".join(f"{quote_ident(f.name)} {sql_type(f.type)}" for f in schema)
    return f"CREATE TEMP TABLE {quote_ident(name)} ({columns}) ON COMMIT DROP"


def drop_temp_table_sql(name: str) -> str:
    """Drop a TEMP table if it exists (``pg_temp``: never a table of the warehouse).

    Staging tables live until COMMIT; a load fed in slices stages again in the same transaction.
    """
    return f"DROP TABLE IF EXISTS pg_temp.{quote_ident(name)}"


def copy_from_csv_sql(name: str, columns: Iterable[str]) -> str:
    """COPY into a (staging) table from CSV on standard input; empty unquoted fields are NULL."""
    return f"COPY {quote_ident(name)} ({column_list(columns)}) FROM STDIN (FORMAT csv)"


def lock_repository_sql() -> str:
    """Serialise loads of one repository (two concurrent MERGEs may both insert one key)."""
    return "SELECT pg_advisory_xact_lock(%(lock_namespace)s, %(repository_id)s::int)"


def _pr_columns() -> list[str]:
    """The staged PR columns: the row and its digest (``core.digests``)."""
    return list(STORED_PULL_REQUEST_SCHEMA.names)


def _distinct(columns: list[str], left: str, right: str) -> str:
    lhs = ", ".join(f"{left}.{quote_ident(c)}" for c in columns)
    rhs = ", ".join(f"{right}.{quote_ident(c)}" for c in columns)
    return f"ROW({lhs}) IS DISTINCT FROM ROW({rhs})"


def prior_states_sql() -> str:
    """Remember the state of every staged PR that already exists, before the MERGE."""
    return (
        f"CREATE TEMP TABLE {quote_ident(PRIOR_STATES)} ON COMMIT DROP AS"
        f" SELECT t.id, t.number, t.state FROM {qualified('pull_requests')} t"
        f" JOIN {quote_ident(STAGE_PULL_REQUESTS)} s ON s.number = t.number"
        " WHERE t.repository_id = %(repository_id)s"
    )


def merge_pull_requests_sql() -> str:
    """Upsert the staged PRs; newest wins, identical rows are left alone, deletion is undone.

    The digest is one of the compared columns: equal rows have equal digests, so it changes
    nothing for them, while a stored row whose digest is NULL or stale gets the right one with
    its next real change.
    """
    columns = _pr_columns()
    data_columns = [c for c in columns if c != "number"]
    assignments = ", ".join(f"{quote_ident(c)} = s.{quote_ident(c)}" for c in data_columns)
    return (
        f"MERGE INTO {qualified('pull_requests')} AS t"
        f" USING {quote_ident(STAGE_PULL_REQUESTS)} AS s"
        " ON t.repository_id = %(repository_id)s AND t.number = s.number"
        " WHEN MATCHED AND s.updated_at >= t.updated_at"
        f" AND (t.deleted_at IS NOT NULL OR {_distinct(data_columns, 't', 's')})"
        f" THEN UPDATE SET {assignments}, deleted_at = NULL, deleted_reason = NULL,"
        " synced_at = now()"
        f" WHEN NOT MATCHED THEN INSERT (repository_id, {column_list(columns)})"
        f" VALUES (%(repository_id)s, {column_list(columns, 's.')})"
    )


def state_history_sql() -> str:
    """Record each transition this transaction made: first seen, closed, reopened, merged.

    ``changed_at`` is the best time GitHub gives for the transition: ``merged_at`` for a merge,
    ``closed_at`` for a close, ``created_at`` when first seen open, else ``updated_at`` (reopen).
    Which changes count is ``core.state_history``'s rule, the one the changeset's
    ``state_transitions`` follows: a state that moved away from ``merged`` is stored but not
    recorded as a transition.
    """
    return (
        "INSERT INTO "
        f"{qualified('pr_state_history')} (pull_request_id, from_state, to_state, changed_at,"
        " sync_run_id)"
        " SELECT t.id, p.state, t.state,"
        " CASE WHEN t.state = 'merged' THEN t.merged_at"
        " WHEN t.state = 'closed' THEN coalesce(t.closed_at, t.updated_at)"
        " WHEN p.id IS NULL THEN t.created_at"
        " ELSE t.updated_at END,"
        " %(sync_run_id)s"
        f" FROM {qualified('pull_requests')} t"
        f" JOIN {quote_ident(STAGE_PULL_REQUESTS)} s ON s.number = t.number"
        f" LEFT JOIN {quote_ident(PRIOR_STATES)} p ON p.id = t.id"
        " WHERE t.repository_id = %(repository_id)s AND t.state IS DISTINCT FROM p.state"
        f" AND {recorded_transition_sql('p.state', 't.state')}"
    )


def _status_rank(alias: str) -> str:
    cases = " ".join(
        f"WHEN '{status}' THEN {rank}" for status, rank in CHECK_RUN_STATUS_RANK.items()
    )
    return f"(CASE {alias}.status {cases} ELSE 0 END)"


def repository_has_check_runs_sql() -> str:
    """Whether any check run of the repository is stored (one probe of ``check_runs_repository``).

    Under the repository's advisory lock a ``false`` means every incoming run is new, so the load
    may COPY them straight into the table (:func:`copy_check_runs_sql`).
    """
    return (
        f"SELECT EXISTS (SELECT 1 FROM {qualified('check_runs')}"
        " WHERE repository_id = %(repository_id)s)"
    )


def pull_request_ids_sql() -> str:
    """Every PR of a repository as ``number, id``, deleted ones too (the MERGE's join keeps them).

    A template for psycopg's ``sql.SQL``, run as ``COPY (...) TO STDOUT``, which takes no bind
    parameters: ``{repository}`` is filled with ``sql.Literal`` of the repository id, an integer.
    """
    return (
        f"SELECT number, id FROM {qualified('pull_requests')} WHERE repository_id = {{repository}}"
    )


def copy_check_runs_sql(columns: Iterable[str]) -> str:
    """COPY check runs with their PR ids resolved straight into ``prmon.check_runs``."""
    return f"COPY {qualified('check_runs')} ({column_list(columns)}) FROM STDIN (FORMAT csv)"


def count_new_check_runs_sql() -> str:
    """How many staged check runs the MERGE will insert (MERGE cannot say so itself)."""
    return (
        f"SELECT count(*) FROM {quote_ident(STAGE_CHECK_RUNS)} s"
        f" JOIN {qualified('pull_requests')} p"
        " ON p.repository_id = %(repository_id)s AND p.number = s.pr_number"
        f" WHERE NOT EXISTS (SELECT 1 FROM {qualified('check_runs')} t"
        " WHERE t.repository_id = %(repository_id)s"
        " AND t.pull_request_id = p.id AND t.github_id = s.github_id)"
    )


def merge_check_runs_sql() -> str:
    """Upsert the staged check runs of PRs that exist; a run never goes back in its life cycle."""
    columns = [c for c in STORED_CHECK_RUN_SCHEMA.names if c != "pr_number"]
    data_columns = [c for c in columns if c != "github_id"]
    assignments = ", ".join(f"{quote_ident(c)} = s.{quote_ident(c)}" for c in data_columns)
    return (
        f"MERGE INTO {qualified('check_runs')} AS t"
        f" USING (SELECT p.id AS pull_request_id, {column_list(columns, 'c.')}"
        f" FROM {quote_ident(STAGE_CHECK_RUNS)} c JOIN {qualified('pull_requests')} p"
        " ON p.repository_id = %(repository_id)s AND p.number = c.pr_number) AS s"
        " ON t.repository_id = %(repository_id)s"
        " AND t.pull_request_id = s.pull_request_id AND t.github_id = s.github_id"
        f" WHEN MATCHED AND {_status_rank('s')} >= {_status_rank('t')}"
        f" AND {_distinct(data_columns, 't', 's')}"
        f" THEN UPDATE SET {assignments}, synced_at = now()"
        " WHEN NOT MATCHED THEN INSERT"
        f" (repository_id, pull_request_id, {column_list(columns)})"
        f" VALUES (%(repository_id)s, s.pull_request_id, {column_list(columns, 's.')})"
    )


# The columns the pipeline's queries filter, join and group on: their statistics steer the plans.
PLANNED_COLUMNS: dict[str, tuple[str, ...]] = {
    "pull_requests": (
        "id",
        "repository_id",
        "number",
        "state",
        "head_sha",
        "updated_at",
        "closed_at",
        "deleted_at",
    ),
    "check_runs": (
        "repository_id",
        "pull_request_id",
        "github_id",
        "head_sha",
        "status",
        "conclusion",
    ),
}


def analyze_sql(table: str) -> str:
    """ANALYZE the columns our plans depend on, after a load large enough to make them stale.

    The wide text columns (bodies, titles, summaries) steer no plan of ours and took half of the
    time; a column list also leaves autovacuum's change counter alone, so its own full ANALYZE
    still follows: https://www.postgresql.org/docs/15/sql-analyze.html
    """
    return f"ANALYZE {qualified(table)} ({column_list(PLANNED_COLUMNS[table])})"


def soft_delete_sql() -> str:
    """Mark PRs that a full reconciliation no longer found (``%(numbers)s`` is a bigint[])."""
    return (
        f"UPDATE {qualified('pull_requests')} SET deleted_at = %(now)s"
        " WHERE repository_id = %(repository_id)s AND number = ANY(%(numbers)s)"
        " AND deleted_at IS NULL"
    )


def finish_sync_run_sql(columns: Iterable[str]) -> str:
    """Close an audit row: ``succeeded``, finished now, each of ``columns`` from its parameter.

    The columns come from ``core.costs.sync_run_values`` (the one mapping of figures to
    ``sync_runs`` columns); each value is a named parameter of the same name, the row ``%(id)s``.
    """
    assignments = ", ".join(f"{quote_ident(c)} = %({c})s" for c in columns)
    return (
        f"UPDATE {qualified('sync_runs')} SET status = 'succeeded',"
        f" finished_at = clock_timestamp(), {assignments} WHERE id = %(id)s"
    )
