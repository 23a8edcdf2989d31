"""The ``sync_runs`` audit trail and the repositories' health columns.

A successful run's row is written inside the load transaction; a failed run's row is written
afterwards in a short transaction of its own, because the load's was rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import psycopg

from prmon_pipeline.core.models import SyncMode

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class SyncAudit:
    """What the audit row says about the run besides the counts the load itself produces."""

    mode: SyncMode
    started_at: datetime
    dry_run: bool = False
    api_requests: int = 0
    api_not_modified: int = 0
    rate_limit_remaining: int | None = None
    prs_unchanged: int = 0
    dagster_run_id: str | None = None


@dataclass(frozen=True)
class LoadResult:
    """Counts taken from the statements themselves (MERGE has no RETURNING before 17)."""

    sync_run_id: int
    prs_new: int
    prs_updated: int
    prs_deleted: int
    check_runs_new: int
    check_runs_updated: int
    state_changes: int


def insert_sync_run(conn: Conn, repository_id: int, audit: SyncAudit) -> int:
    """Open the run's audit row (``running``); its id tags the state-history rows."""
    row = conn.execute(
        "INSERT INTO prmon.sync_runs (repository_id, mode, dry_run, started_at, status,"
        " dagster_run_id) VALUES (%s, %s, %s, %s, 'running', %s) RETURNING id",
        (repository_id, audit.mode, audit.dry_run, audit.started_at, audit.dagster_run_id),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def finish_sync_run(conn: Conn, result: LoadResult, audit: SyncAudit) -> None:
    """Close the run's audit row with every count, inside the load's transaction."""
    conn.execute(
        "UPDATE prmon.sync_runs SET status = 'succeeded', finished_at = clock_timestamp(),"
        " prs_new = %s,"
        " prs_updated = %s, prs_unchanged = %s, prs_deleted = %s, check_runs_new = %s,"
        " check_runs_updated = %s, state_changes = %s, api_requests = %s,"
        " api_not_modified = %s, rate_limit_remaining = %s WHERE id = %s",
        (
            result.prs_new,
            result.prs_updated,
            audit.prs_unchanged,
            result.prs_deleted,
            result.check_runs_new,
            result.check_runs_updated,
            result.state_changes,
            audit.api_requests,
            audit.api_not_modified,
            audit.rate_limit_remaining,
            result.sync_run_id,
        ),
    )


def record_failure(
    conn: Conn, repository_id: int, audit: SyncAudit, error: str, now: datetime
) -> int:
    """Record a failed run and bump the repository's failure count, in a transaction of its own."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO prmon.sync_runs (repository_id, mode, dry_run, started_at, finished_at,"
            " status, error, api_requests, api_not_modified, rate_limit_remaining,"
            " dagster_run_id) VALUES (%s, %s, %s, %s, clock_timestamp(), 'failed', %s, %s, %s,"
            " %s, %s) RETURNING id",
            (
                repository_id,
                audit.mode,
                audit.dry_run,
                audit.started_at,
                error,
                audit.api_requests,
                audit.api_not_modified,
                audit.rate_limit_remaining,
                audit.dagster_run_id,
            ),
        ).fetchone()
        conn.execute(
            "UPDATE prmon.repositories SET failure_count = failure_count + 1, last_error = %s,"
            " last_attempt_at = %s WHERE id = %s",
            (error, now, repository_id),
        )
    assert row is not None
    return int(str(row[0]))


def record_dry_run(conn: Conn, repository_id: int, audit: SyncAudit, preview: LoadResult) -> int:
    """A dry run writes nothing but this audit row, with the counts it would have produced."""
    with conn.transaction():
        run_id = insert_sync_run(conn, repository_id, audit)
        finish_sync_run(conn, replace(preview, sync_run_id=run_id), audit)
    return run_id
