"""Read-only queries behind the Dagster asset checks and the warehouse asset's row counts.

Referential integrity beyond what the foreign keys enforce (the denormalised
``check_runs.repository_id``, state history consistent with each PR's state), duplicate keys,
agreement with what discovery saw, and freshness. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from prmon_pipeline.core import sql_reports
from prmon_pipeline.warehouse.repositories import get_repository

Conn = psycopg.Connection[tuple[object, ...]]

INTEGRITY_SQL: dict[str, str] = sql_reports.integrity_sql()
"""Each query counts rows of one repository that break a relation the schema cannot enforce."""

DUPLICATE_SQL: dict[str, str] = sql_reports.duplicate_keys_sql()

STORED_COUNTS_SQL: dict[str, str] = sql_reports.stored_counts_sql()


def _count(conn: Conn, query: str, params: dict[str, object]) -> int:
    row = conn.execute(query, params).fetchone()
    return int(str(row[0])) if row else 0


def _repository_params(conn: Conn, repository: str) -> dict[str, object]:
    """The live row of the name: a retired row of the same name is history, not checked here."""
    return {"repository_id": get_repository(conn, repository).id}


def integrity_violations(conn: Conn, repository: str) -> dict[str, int]:
    """Per rule, how many rows of the repository break it (all zero when sound)."""
    params = _repository_params(conn, repository)
    return {name: _count(conn, query, params) for name, query in INTEGRITY_SQL.items()}


def duplicate_keys(conn: Conn, repository: str) -> dict[str, int]:
    """Per key, how many key values occur more than once in the repository's rows."""
    params = _repository_params(conn, repository)
    return {name: _count(conn, query, params) for name, query in DUPLICATE_SQL.items()}


def stored_counts(conn: Conn, repository: str) -> dict[str, int]:
    """Live PRs, soft-deleted PRs and check runs the warehouse holds for the repository."""
    params = _repository_params(conn, repository)
    return {name: _count(conn, query, params) for name, query in STORED_COUNTS_SQL.items()}


def missing_from_warehouse(
    conn: Conn,
    repository: str,
    pr_numbers: Sequence[int],
    check_run_keys: Sequence[tuple[int, int]],
) -> dict[str, int]:
    """How many PRs and check runs discovery saw that the warehouse lacks (or soft-deleted)."""
    params: dict[str, object] = {
        "repository_id": get_repository(conn, repository).id,
        "numbers": list(pr_numbers),
        "run_prs": [pr for pr, _ in check_run_keys],
        "run_ids": [run for _, run in check_run_keys],
    }
    prs_present = _count(conn, sql_reports.pull_requests_present_sql(), params)
    runs_present = _count(conn, sql_reports.check_runs_present_sql(), params)
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
    rows = conn.execute(sql_reports.repositories_with_pending_checks_sql()).fetchall()
    return {str(row[0]) for row in rows}
