"""Read-only queries behind the Dagster asset checks and the warehouse asset's row counts.

Referential integrity beyond what the foreign keys enforce (the denormalised
``check_runs.repository_id``, state history consistent with each PR's state), duplicate keys,
agreement with what discovery saw, and freshness. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from prmon_pipeline.warehouse.repositories import get_repository

Conn = psycopg.Connection[tuple[object, ...]]

INTEGRITY_SQL: dict[str, str] = {
    "check_runs_on_foreign_prs": (
        "SELECT count(*) FROM prmon.check_runs c JOIN prmon.pull_requests p"
        " ON p.id = c.pull_request_id WHERE c.repository_id = %(id)s"
        " AND p.repository_id <> c.repository_id"
    ),
    "history_rows_of_foreign_runs": (
        "SELECT count(*) FROM prmon.pr_state_history h"
        " JOIN prmon.pull_requests p ON p.id = h.pull_request_id"
        " JOIN prmon.sync_runs r ON r.id = h.sync_run_id"
        " WHERE p.repository_id = %(id)s AND r.repository_id <> p.repository_id"
    ),
    "prs_without_history": (
        "SELECT count(*) FROM prmon.pull_requests p WHERE p.repository_id = %(id)s"
        " AND NOT EXISTS (SELECT 1 FROM prmon.pr_state_history h WHERE h.pull_request_id = p.id)"
    ),
    "prs_whose_history_ends_elsewhere": (
        "SELECT count(*) FROM prmon.pull_requests p"
        " JOIN LATERAL (SELECT h.to_state FROM prmon.pr_state_history h"
        " WHERE h.pull_request_id = p.id ORDER BY h.id DESC LIMIT 1) last ON true"
        " WHERE p.repository_id = %(id)s AND last.to_state <> p.state"
    ),
    "merged_prs_without_merged_at": (
        "SELECT count(*) FROM prmon.pull_requests"
        " WHERE repository_id = %(id)s AND state = 'merged' AND merged_at IS NULL"
    ),
}
"""Each query counts rows of one repository that break a relation the schema cannot enforce."""

DUPLICATE_SQL: dict[str, str] = {
    "pull_request_numbers": (
        "SELECT count(*) FROM (SELECT number FROM prmon.pull_requests WHERE repository_id = %(id)s"
        " GROUP BY number HAVING count(*) > 1) d"
    ),
    "pull_request_github_ids": (
        "SELECT count(*) FROM (SELECT github_id FROM prmon.pull_requests"
        " WHERE repository_id = %(id)s GROUP BY github_id HAVING count(*) > 1) d"
    ),
    "check_run_keys": (
        "SELECT count(*) FROM (SELECT pull_request_id, github_id FROM prmon.check_runs"
        " WHERE repository_id = %(id)s GROUP BY 1, 2 HAVING count(*) > 1) d"
    ),
}


def _count(conn: Conn, query: str, params: dict[str, object]) -> int:
    row = conn.execute(query, params).fetchone()
    return int(str(row[0])) if row else 0


def integrity_violations(conn: Conn, repository: str) -> dict[str, int]:
    """Per rule, how many rows of the repository break it (all zero when sound)."""
    params: dict[str, object] = {"id": get_repository(conn, repository).id}
    return {name: _count(conn, query, params) for name, query in INTEGRITY_SQL.items()}


def duplicate_keys(conn: Conn, repository: str) -> dict[str, int]:
    """Per key, how many key values occur more than once in the repository's rows."""
    params: dict[str, object] = {"id": get_repository(conn, repository).id}
    return {name: _count(conn, query, params) for name, query in DUPLICATE_SQL.items()}


def stored_counts(conn: Conn, repository: str) -> dict[str, int]:
    """Live PRs, soft-deleted PRs and check runs the warehouse holds for the repository."""
    params: dict[str, object] = {"id": get_repository(conn, repository).id}
    return {
        "pull_requests": _count(
            conn,
            "SELECT count(*) FROM prmon.pull_requests"
            " WHERE repository_id = %(id)s AND deleted_at IS NULL",
            params,
        ),
        "pull_requests_deleted": _count(
            conn,
            "SELECT count(*) FROM prmon.pull_requests"
            " WHERE repository_id = %(id)s AND deleted_at IS NOT NULL",
            params,
        ),
        "check_runs": _count(
            conn, "SELECT count(*) FROM prmon.check_runs WHERE repository_id = %(id)s", params
        ),
    }


def missing_from_warehouse(
    conn: Conn,
    repository: str,
    pr_numbers: Sequence[int],
    check_run_keys: Sequence[tuple[int, int]],
) -> dict[str, int]:
    """How many PRs and check runs discovery saw that the warehouse lacks (or soft-deleted)."""
    params: dict[str, object] = {
        "id": get_repository(conn, repository).id,
        "numbers": list(pr_numbers),
        "run_prs": [pr for pr, _ in check_run_keys],
        "run_ids": [run for _, run in check_run_keys],
    }
    prs_present = _count(
        conn,
        "SELECT count(DISTINCT number) FROM prmon.pull_requests WHERE repository_id = %(id)s"
        " AND deleted_at IS NULL AND number = ANY(%(numbers)s)",
        params,
    )
    runs_present = _count(
        conn,
        "SELECT count(*) FROM (SELECT DISTINCT k.pr, k.run"
        " FROM unnest(%(run_prs)s::bigint[], %(run_ids)s::bigint[]) AS k(pr, run)"
        " JOIN prmon.pull_requests p ON p.repository_id = %(id)s AND p.number = k.pr"
        " JOIN prmon.check_runs c ON c.pull_request_id = p.id AND c.github_id = k.run) d",
        params,
    )
    return {
        "pull_requests_missing": len(set(pr_numbers)) - prs_present,
        "check_runs_missing": len(set(check_run_keys)) - runs_present,
    }


def last_success_at(conn: Conn, repository: str) -> datetime | None:
    """When the repository was last synced successfully (None: never)."""
    return get_repository(conn, repository).last_success_at


def last_error(conn: Conn, repository: str) -> str | None:
    """The repository's last recorded sync error, if any."""
    return get_repository(conn, repository).last_error


def repositories_with_pending_checks(conn: Conn) -> set[str]:
    """Active repositories with a check run still not completed on some open PR's head."""
    rows = conn.execute(
        "SELECT DISTINCT r.full_name FROM prmon.repositories r"
        " JOIN prmon.pull_requests p ON p.repository_id = r.id"
        " AND p.deleted_at IS NULL AND p.state = 'open'"
        " JOIN prmon.check_runs c ON c.pull_request_id = p.id AND c.head_sha = p.head_sha"
        " AND c.status <> 'completed'"
        " WHERE r.active"
    ).fetchall()
    return {str(row[0]) for row in rows}
