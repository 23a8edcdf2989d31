"""Per-repository health read from the warehouse, for ``prmon status`` and the freshness check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import psycopg

from prmon_pipeline.core import sql_reports

Conn = psycopg.Connection[tuple[object, ...]]


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
    replaced_at: datetime | None = None
    """When this repository replaced an earlier one of the same name (its row retired), if so."""
    replaced_reason: str | None = None
    check_run_shas_refused: int = 0
    """Head SHAs whose check runs GitHub refuses (commits gone), backed off, not a failure."""
    next_refused_retry_at: datetime | None = None
    graphql_remaining: int | None = None
    """The GraphQL pool's remaining points at the last sync that used it (``rate_limit_remaining``
    is the REST core pool's)."""

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

    def notes(self) -> list[str]:
        """What is worth knowing that is not a problem: the name once meant another repository;
        head SHAs GitHub refuses (their check runs are skipped and asked again later)."""
        found = []
        if self.replaced_at is not None:
            found.append(f"replaced {self.replaced_at:%Y-%m-%d}: {self.replaced_reason}")
        if self.check_run_shas_refused:
            shas = "SHA" if self.check_run_shas_refused == 1 else "SHAs"
            when = self.next_refused_retry_at
            found.append(
                f"{self.check_run_shas_refused} head {shas} refused by GitHub (gone commits)"
                + (f", asked again from {when:%Y-%m-%d %H:%M} UTC" if when else "")
            )
        return found

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def read_status(conn: Conn, *, include_inactive: bool = False) -> list[RepositoryStatus]:
    """Health of every (active) live repository, by name; retired rows are history, not listed."""
    query = sql_reports.status_sql()
    rows = conn.execute(query, {"include_inactive": include_inactive}).fetchall()
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
    graphql_points: int
    graphql_queries: int
    seconds: float | None
    error: str | None


def read_sync_runs(conn: Conn, since: datetime) -> list[SyncRunFigures]:
    """The sync runs that started at or after ``since``, by repository."""
    rows = conn.execute(sql_reports.sync_runs_since_sql(), {"since": since}).fetchall()
    return [SyncRunFigures(*row) for row in rows]  # type: ignore[arg-type]


def read_state_transitions(
    conn: Conn, sync_run_ids: list[int]
) -> list[tuple[str, int, str | None, str]]:
    """(repository, PR number, from, to) recorded by these sync runs, in order."""
    rows = conn.execute(
        sql_reports.state_transitions_of_runs_sql(), {"sync_run_ids": sync_run_ids}
    ).fetchall()
    return [(str(a), int(str(b)), c, str(d)) for a, b, c, d in rows]  # type: ignore[misc]
