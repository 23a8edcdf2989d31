"""The ``sync_runs`` audit trail and the repositories' health columns.

A successful run's row is written inside the load transaction; a failed run's row is written
afterwards in a short transaction of its own, because the load's was rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import psycopg

from prmon_pipeline.core import sql_text
from prmon_pipeline.core.costs import ApiCost, LoadCounts, sync_run_values
from prmon_pipeline.core.models import SyncMode

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class SyncAudit:
    """What the audit row says about the run besides the counts the load itself produces."""

    mode: SyncMode
    started_at: datetime
    dry_run: bool = False
    cost: ApiCost = field(default_factory=ApiCost)
    prs_unchanged: int = 0
    item_errors: int = 0
    dagster_run_id: str | None = None


@dataclass(frozen=True)
class LoadResult:
    """The audit row's id and the counts it holds (taken from the statements themselves:
    MERGE has no RETURNING before 17)."""

    sync_run_id: int
    counts: LoadCounts


def insert_sync_run(conn: Conn, repository_id: int, audit: SyncAudit) -> int:
    """Open the run's audit row (``running``); its id tags the state-history rows."""
    row = conn.execute(
        "INSERT INTO prmon.sync_runs (repository_id, mode, dry_run, started_at, status,"
        " dagster_run_id) VALUES (%s, %s, %s, %s, 'running', %s) RETURNING id",
        (repository_id, audit.mode, audit.dry_run, audit.started_at, audit.dagster_run_id),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def with_audit_counts(counts: LoadCounts, audit: SyncAudit) -> LoadCounts:
    """The statements' counts plus those only the sync knows (unchanged PRs, item errors)."""
    return replace(counts, prs_unchanged=audit.prs_unchanged, item_errors=audit.item_errors)


def finish_sync_run(conn: Conn, result: LoadResult, audit: SyncAudit) -> None:
    """Close the run's audit row with every count, inside the load's transaction."""
    values = sync_run_values(audit.cost, result.counts)
    conn.execute(sql_text.finish_sync_run_sql(list(values)), {**values, "id": result.sync_run_id})


def record_failure(
    conn: Conn, repository_id: int, audit: SyncAudit, error: str, now: datetime
) -> int:
    """Record a failed run and bump the repository's failure count, in a transaction of its own."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO prmon.sync_runs (repository_id, mode, dry_run, started_at, finished_at,"
            " status, error, api_requests, api_not_modified, rate_limit_remaining,"
            " graphql_points, graphql_queries, dagster_run_id) VALUES (%s, %s, %s, %s,"
            " clock_timestamp(), 'failed', %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                repository_id,
                audit.mode,
                audit.dry_run,
                audit.started_at,
                error,
                audit.cost.requests,
                audit.cost.not_modified,
                audit.cost.rate_limit_remaining,
                audit.cost.graphql_points,
                audit.cost.graphql_queries,
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


def record_dry_run(
    conn: Conn, repository_id: int, audit: SyncAudit, preview: LoadCounts
) -> LoadResult:
    """A dry run writes nothing but this audit row, with the counts it would have produced."""
    with conn.transaction():
        run_id = insert_sync_run(conn, repository_id, audit)
        result = LoadResult(run_id, with_audit_counts(preview, audit))
        finish_sync_run(conn, result, audit)
    return result
