"""The transactional load: one repository's changes, cursors and audit row in one transaction.

Inside the transaction, in order: an advisory lock on the repository (two concurrent MERGEs of
one key can otherwise raise unique_violation), the ``sync_runs`` row, COPY of the changed rows into
TEMP staging tables, the MERGEs and the state history (SQL text in ``core/sql_text.py``), soft
deletes, the sync cursors, and the repository's health. Nothing is visible to anyone until COMMIT;
any error rolls all of it back, so a failed load never advances a cursor.

A repository's first check runs (none stored yet) skip staging and MERGE: they are all new, so
they are COPYed straight into ``prmon.check_runs`` with their PR ids resolved by the client. On
300k check runs that saves the staging COPY (0.45 s), the count of new rows (0.15 s) and the
MERGE's joins, for 0.1 s spent reading the ids. What remains is the foreign key's per-row check
(0.8 s) and the table's heap, indexes and WAL (1 s), which no way of sending the rows avoids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import pyarrow as pa

from prmon_pipeline.core import sql_text
from prmon_pipeline.core.check_run_rows import CHECK_RUN_TABLE_COLUMNS, check_run_table_rows
from prmon_pipeline.core.costs import LoadCounts
from prmon_pipeline.core.csv_codec import encode_csv
from prmon_pipeline.core.digests import stored_check_runs, stored_pull_requests
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.core.schemas import STORED_CHECK_RUN_SCHEMA, STORED_PULL_REQUEST_SCHEMA
from prmon_pipeline.warehouse.audit import (
    LoadResult,
    SyncAudit,
    finish_sync_run,
    insert_sync_run,
    with_audit_counts,
)
from prmon_pipeline.warehouse.cursors import write_cursors
from prmon_pipeline.warehouse.snapshot import read_pull_request_ids

Conn = psycopg.Connection[tuple[object, ...]]

# First key of the two-key advisory lock that serialises loads of one repository ("pr").
LOCK_NAMESPACE = 0x7072
COPY_CHUNK_ROWS = 10_000
# After a load this large (a first sync), the planner's statistics are stale enough to pick
# nested loops over a million rows in the next snapshot read; ANALYZE before autovacuum would.
ANALYZE_AFTER_ROWS = 50_000
# Inside a load fed in slices, the first ANALYZE comes after this many new rows of a table.
SLICE_ANALYZE_ROWS = 5_000


def load_changeset(
    conn: Conn,
    repository_id: int,
    *,
    pull_requests: pa.Table,
    check_runs: pa.Table,
    deleted_numbers: Sequence[int],
    cursors: SyncCursors,
    audit: SyncAudit,
    now: datetime,
    previous_cursors: SyncCursors | None = None,
) -> LoadResult:
    """Apply one repository's changed rows atomically and return what the statements did."""
    with conn.transaction():
        load = begin_load(conn, repository_id, audit, now)
        load_rows(conn, load, pull_requests=pull_requests, check_runs=check_runs)
        return finish_load(
            conn,
            load,
            deleted_numbers=deleted_numbers,
            cursors=cursors,
            audit=audit,
            previous_cursors=previous_cursors,
        )


@dataclass
class OpenLoad:
    """A load under way inside the caller's transaction: the lock is held, the audit row open.

    ``load_changeset`` opens, fills and finishes one in a single call. A sync that feeds a large
    repository slice by slice (``sync.py``) calls :func:`load_rows` once per slice in between,
    all in one transaction, and the counts add up here.
    """

    params: dict[str, object]
    check_runs_first: bool
    """No check run of the repository was stored when the load began: every run is new."""
    analyzed: dict[str, int] = field(default_factory=dict)
    """Rows this load had inserted into each table when it last ANALYZEd it."""
    prs_new: int = 0
    prs_updated: int = 0
    state_changes: int = 0
    check_runs_new: int = 0
    check_runs_updated: int = 0

    @property
    def repository_id(self) -> int:
        return int(str(self.params["repository_id"]))


def begin_load(conn: Conn, repository_id: int, audit: SyncAudit, now: datetime) -> OpenLoad:
    """Take the repository's lock and open its audit row (inside the caller's transaction)."""
    params: dict[str, object] = {"repository_id": repository_id, "now": now}
    conn.execute(sql_text.lock_repository_sql(), {**params, "lock_namespace": LOCK_NAMESPACE})
    params["sync_run_id"] = insert_sync_run(conn, repository_id, audit)
    return OpenLoad(params, check_runs_first=not _repository_has_check_runs(conn, params))


def load_rows(conn: Conn, load: OpenLoad, *, pull_requests: pa.Table, check_runs: pa.Table) -> None:
    """Merge changed PRs (with their state history), then their check runs.

    Each row is written with its digest (``core.digests``), computed here from the row itself,
    so no caller can store a row with another row's digest; only changed rows get this far.
    """
    pull_requests = stored_pull_requests(pull_requests) if pull_requests.num_rows else pull_requests
    check_runs = stored_check_runs(check_runs) if check_runs.num_rows else check_runs
    prs_new, prs_updated, state_changes = _merge_pull_requests(conn, pull_requests, load.params)
    runs_new, runs_updated = _write_check_runs(conn, check_runs, load)
    load.prs_new += prs_new
    load.prs_updated += prs_updated
    load.state_changes += state_changes
    load.check_runs_new += runs_new
    load.check_runs_updated += runs_updated


def refresh_grown_statistics(conn: Conn, load: OpenLoad) -> None:
    """ANALYZE a table once the rows this load inserted into it have doubled since the last time.

    A load fed in slices reads every slice's snapshot inside its own transaction. After the first
    slices of a new 100,000-PR repository the planner still took the tables for empty, and one
    snapshot read ran for minutes; ANALYZE counts the transaction's own rows. Doubling keeps the
    cost to a few ANALYZEs (~0.1 s each) however many slices there are.
    """
    _analyze_inserted(conn, load, at_least=SLICE_ANALYZE_ROWS, growth=2)


def _analyze_inserted(conn: Conn, load: OpenLoad, *, at_least: int, growth: int) -> None:
    """ANALYZE each table into which this load inserted ``at_least`` rows, ``growth`` times as
    many as at its last ANALYZE, and some since: never twice over the same rows."""
    for table, inserted in (("pull_requests", load.prs_new), ("check_runs", load.check_runs_new)):
        last = load.analyzed.get(table, 0)
        if inserted >= max(at_least, growth * last) and inserted > last:
            conn.execute(sql_text.analyze_sql(table))
            load.analyzed[table] = inserted


def finish_load(
    conn: Conn,
    load: OpenLoad,
    *,
    deleted_numbers: Sequence[int],
    cursors: SyncCursors,
    audit: SyncAudit,
    previous_cursors: SyncCursors | None = None,
) -> LoadResult:
    """Soft deletes, the cursors, the audit row's counts and the repository's health."""
    params = load.params
    prs_deleted = _soft_delete(conn, deleted_numbers, params)
    now = params["now"]
    assert isinstance(now, datetime)
    write_cursors(
        conn,
        load.repository_id,
        cursors,
        full=audit.mode == "full",
        now=now,
        previous=previous_cursors,
    )
    counts = LoadCounts(
        prs_new=load.prs_new,
        prs_updated=load.prs_updated,
        prs_deleted=prs_deleted,
        check_runs_new=load.check_runs_new,
        check_runs_updated=load.check_runs_updated,
        state_changes=load.state_changes,
    )
    result = LoadResult(int(str(params["sync_run_id"])), with_audit_counts(counts, audit))
    finish_sync_run(conn, result, audit)
    # A first sync's planner statistics are stale enough to pick nested loops in the next
    # snapshot read; after a sliced load, only rows since its last ANALYZE call for another.
    _analyze_inserted(conn, load, at_least=ANALYZE_AFTER_ROWS, growth=1)
    conn.execute(
        "UPDATE prmon.repositories SET last_success_at = %(now)s, last_attempt_at = %(now)s,"
        " failure_count = 0, last_error = NULL WHERE id = %(repository_id)s",
        params,
    )
    return result


def _stage(conn: Conn, name: str, table: pa.Table, schema: pa.Schema) -> None:
    conn.execute(sql_text.drop_temp_table_sql(name))  # an earlier slice's, same transaction
    conn.execute(sql_text.create_staging_table_sql(name, schema))
    if table.num_rows == 0:
        return
    _copy_in(conn, sql_text.copy_from_csv_sql(name, schema.names), table.select(schema.names))


def _copy_in(conn: Conn, copy_sql: str, table: pa.Table) -> None:
    """COPY the rows, encoded ``COPY_CHUNK_ROWS`` at a time: the CSV of a 100,000-PR repository
    is hundreds of megabytes, and only one chunk of it needs to exist at once."""
    with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for offset in range(0, table.num_rows, COPY_CHUNK_ROWS):
            copy.write(encode_csv(table.slice(offset, COPY_CHUNK_ROWS)))


def _merge_pull_requests(
    conn: Conn, pull_requests: pa.Table, params: dict[str, object]
) -> tuple[int, int, int]:
    if pull_requests.num_rows == 0:
        return 0, 0, 0
    _stage(conn, sql_text.STAGE_PULL_REQUESTS, pull_requests, STORED_PULL_REQUEST_SCHEMA)
    conn.execute(sql_text.drop_temp_table_sql(sql_text.PRIOR_STATES))
    existing = conn.execute(sql_text.prior_states_sql(), params).rowcount
    merged = conn.execute(sql_text.merge_pull_requests_sql(), params).rowcount
    new = pull_requests.num_rows - existing
    history = conn.execute(sql_text.state_history_sql(), params).rowcount
    return new, merged - new, history


def _soft_delete(conn: Conn, numbers: Sequence[int], params: dict[str, object]) -> int:
    if not numbers:
        return 0
    return conn.execute(
        sql_text.soft_delete_sql(), {**params, "numbers": [int(n) for n in numbers]}
    ).rowcount


def _write_check_runs(conn: Conn, check_runs: pa.Table, load: OpenLoad) -> tuple[int, int]:
    """Store the check runs; return how many were new and how many were updated."""
    if check_runs.num_rows == 0:
        return 0, 0
    if load.check_runs_first:
        copied = _copy_new_check_runs(conn, check_runs, load.params)
        if copied is not None:
            return copied, 0
    return _merge_check_runs(conn, check_runs, load.params)


def _repository_has_check_runs(conn: Conn, params: dict[str, object]) -> bool:
    row = conn.execute(sql_text.repository_has_check_runs_sql(), params).fetchone()
    return bool(row and row[0])


def _copy_new_check_runs(conn: Conn, check_runs: pa.Table, params: dict[str, object]) -> int | None:
    """COPY runs known to be new into ``prmon.check_runs``; None if some were stored after all.

    Every prmon load of the repository holds its advisory lock, so no other load can have stored
    one of these runs since the caller looked. A writer that skips the lock could, and then the
    unique key (``pull_request_id, github_id``) refuses the COPY: the savepoint undoes it and the
    caller merges instead, which is always correct, only slower.
    """
    repository_id = int(str(params["repository_id"]))
    ids = read_pull_request_ids(conn, repository_id)
    rows = check_run_table_rows(check_runs, ids, repository_id)
    if rows.num_rows == 0:
        return 0
    try:
        with conn.transaction():
            _copy_in(conn, sql_text.copy_check_runs_sql(CHECK_RUN_TABLE_COLUMNS), rows)
    except psycopg.errors.UniqueViolation:
        return None
    return rows.num_rows


def _merge_check_runs(
    conn: Conn, check_runs: pa.Table, params: dict[str, object]
) -> tuple[int, int]:
    """Stage the runs and MERGE them, newest wins; counts from a query and the MERGE's rowcount."""
    _stage(conn, sql_text.STAGE_CHECK_RUNS, check_runs, STORED_CHECK_RUN_SCHEMA)
    row = conn.execute(sql_text.count_new_check_runs_sql(), params).fetchone()
    new = int(str(row[0])) if row else 0
    merged = conn.execute(sql_text.merge_check_runs_sql(), params).rowcount
    return new, merged - new
