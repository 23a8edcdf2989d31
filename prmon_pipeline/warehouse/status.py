"""Per-repository health read from the warehouse, for ``prmon status`` and the freshness check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import psycopg

Conn = psycopg.Connection[tuple[object, ...]]

_STATUS_SQL = """
SELECT r.full_name, r.active, r.last_success_at, r.last_attempt_at, r.failure_count, r.last_error,
       coalesce(p.prs, 0), coalesce(p.open_prs, 0), coalesce(c.check_runs, 0),
       coalesce(f.failing, 0), s.rate_limit_remaining
FROM prmon.repositories r
LEFT JOIN LATERAL (
    SELECT count(*) AS prs, count(*) FILTER (WHERE state = 'open') AS open_prs
    FROM prmon.pull_requests WHERE repository_id = r.id AND deleted_at IS NULL
) p ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS check_runs FROM prmon.check_runs WHERE repository_id = r.id
) c ON true
LEFT JOIN LATERAL (
    SELECT count(DISTINCT pr.id) AS failing
    FROM prmon.pull_requests pr JOIN prmon.check_runs cr
      ON cr.pull_request_id = pr.id AND cr.head_sha = pr.head_sha
    WHERE pr.repository_id = r.id AND pr.state = 'open' AND pr.deleted_at IS NULL
      AND cr.conclusion IN ('failure', 'timed_out', 'startup_failure', 'action_required')
) f ON true
LEFT JOIN LATERAL (
    SELECT rate_limit_remaining FROM prmon.sync_runs
    WHERE repository_id = r.id AND rate_limit_remaining IS NOT NULL
    ORDER BY started_at DESC, id DESC LIMIT 1
) s ON true
WHERE r.active OR %(include_inactive)s
ORDER BY r.full_name
"""


@dataclass(frozen=True)
class RepositoryStatus:
    """One repository's health, as ``prmon status`` shows it."""

    full_name: str
    active: bool
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    failure_count: int
    last_error: str | None
    pull_requests: int
    open_pull_requests: int
    check_runs: int
    open_prs_with_failing_checks: int
    rate_limit_remaining: int | None

    def age(self, now: datetime) -> timedelta | None:
        """Time since the last successful sync (None before the first one)."""
        return None if self.last_success_at is None else now - self.last_success_at

    def problems(self, now: datetime, max_age: timedelta) -> list[str]:
        """Why this repository is unhealthy (empty when healthy)."""
        found = []
        age = self.age(now)
        if age is None:
            found.append("never synced")
        elif age > max_age:
            found.append(f"stale: last success {int(age.total_seconds() // 60)} min ago")
        if self.failure_count:
            found.append(f"{self.failure_count} failure(s) since last success: {self.last_error}")
        return found

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def read_status(conn: Conn, *, include_inactive: bool = False) -> list[RepositoryStatus]:
    """Health of every (active) repository, by name."""
    rows = conn.execute(_STATUS_SQL, {"include_inactive": include_inactive}).fetchall()
    return [RepositoryStatus(*row) for row in rows]  # type: ignore[arg-type]


@dataclass(frozen=True)
class SyncRunFigures:
    """One ``sync_runs`` row: what a sync did, whichever engine ran it."""

    id: int
    full_name: str
    mode: str
    dry_run: bool
    status: str
    prs_new: int
    prs_updated: int
    prs_unchanged: int
    prs_deleted: int
    check_runs_new: int
    check_runs_updated: int
    state_changes: int
    api_requests: int
    api_not_modified: int
    seconds: float | None
    error: str | None


def read_sync_runs(conn: Conn, since: datetime) -> list[SyncRunFigures]:
    """The sync runs that started at or after ``since``, by repository."""
    rows = conn.execute(
        "SELECT s.id, r.full_name, s.mode, s.dry_run, s.status, s.prs_new, s.prs_updated,"
        " s.prs_unchanged, s.prs_deleted, s.check_runs_new, s.check_runs_updated,"
        " s.state_changes, s.api_requests, s.api_not_modified,"
        " extract(epoch FROM s.finished_at - s.started_at)::float8, s.error"
        " FROM prmon.sync_runs s JOIN prmon.repositories r ON r.id = s.repository_id"
        " WHERE s.started_at >= %s ORDER BY r.full_name, s.id",
        (since,),
    ).fetchall()
    return [SyncRunFigures(*row) for row in rows]  # type: ignore[arg-type]


def read_state_transitions(
    conn: Conn, sync_run_ids: list[int]
) -> list[tuple[str, int, str | None, str]]:
    """(repository, PR number, from, to) recorded by these sync runs, in order."""
    rows = conn.execute(
        "SELECT r.full_name, p.number, h.from_state, h.to_state FROM prmon.pr_state_history h"
        " JOIN prmon.pull_requests p ON p.id = h.pull_request_id"
        " JOIN prmon.repositories r ON r.id = p.repository_id"
        " WHERE h.sync_run_id = ANY(%s) ORDER BY r.full_name, h.id",
        (sync_run_ids,),
    ).fetchall()
    return [(str(a), int(str(b)), c, str(d)) for a, b, c, d in rows]  # type: ignore[misc]
