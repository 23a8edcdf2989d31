"""Pending webhook deliveries (``prmon.webhook_deliveries``) as the applier reads and marks them.

A delivery belongs to the live, active registry row whose ``github_id`` is the payload's
repository id; failing that, to the row of its name (case-insensitive) when one side does not
know the id yet. A row of the same name with *another* id is another repository: not a match.

Claiming: the applier takes the repository's advisory lock (the one every load takes, see
``warehouse.load``) *before* it reads the repository's pending rows, in the transaction that
loads them and marks them. ``FOR UPDATE SKIP LOCKED`` would let two appliers split one
repository's deliveries between them; their loads would serialise on that lock anyway, and
each would order only its half (a tie or an out-of-order pair split across them would be
judged wrongly). Under the lock, a second applier waits, then reads only what the first left
pending; rows the receiver commits meanwhile are simply read by the next round. The receiver
only ever inserts (``ON CONFLICT DO NOTHING``), so no row lock is needed on the rows themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import psycopg

from prmon_pipeline.core import sql_text
from prmon_pipeline.core.costs import LoadCounts
from prmon_pipeline.core.sql_registry import REPOSITORY_COLUMNS
from prmon_pipeline.core.sql_text import column_list
from prmon_pipeline.core.webhook_events import DeliveryVerdict, PendingDelivery
from prmon_pipeline.core.webhook_settlement import StoredSuiteRuns
from prmon_pipeline.warehouse.audit import LoadResult, SyncAudit, finish_sync_run, with_audit_counts
from prmon_pipeline.warehouse.load import LOCK_NAMESPACE, OpenLoad
from prmon_pipeline.warehouse.repositories import Repository

Conn = psycopg.Connection[tuple[object, ...]]

CHANNEL = "prmon_webhook_deliveries"
"""The receiver NOTIFYs this channel after committing new pending rows."""
BATCH_DELIVERIES = 5_000
"""Deliveries of one repository applied in one transaction (the rest in the next)."""

_MATCH = (
    "r.active AND r.retired_at IS NULL AND (r.github_id = d.repository_github_id"
    " OR (lower(r.full_name) = lower(d.repository_full_name)"
    " AND (r.github_id IS NULL OR d.repository_github_id IS NULL)))"
)
"""A delivery ``d`` belongs to the registry row ``r`` (see the module's docstring)."""


def ignore_unregistered(conn: Conn, now: datetime) -> int:
    """Mark pending deliveries of no registered repository ``ignored`` (with why); count them."""
    return conn.execute(
        "UPDATE prmon.webhook_deliveries AS d SET status = 'ignored', applied_at = %(now)s,"
        " reason = CASE WHEN d.repository_github_id IS NULL AND d.repository_full_name IS NULL"
        " THEN 'no repository in the delivery'"
        " ELSE 'repository ' || coalesce(d.repository_full_name, '?') || ' (GitHub id '"
        " || coalesce(d.repository_github_id::text, '?') || ') is not registered' END"
        " WHERE d.status = 'pending'"
        f" AND NOT EXISTS (SELECT 1 FROM prmon.repositories r WHERE {_MATCH})",
        {"now": now},
    ).rowcount


def pending_repositories(
    conn: Conn, *, names: Iterable[str] | None = None, parked_before: datetime | None = None
) -> list[Repository]:
    """Registered repositories with deliveries to apply, by name.

    Only fresh ones (no reason yet) count, and parked ones (check runs waiting for their PR)
    received before ``parked_before``: those are due to be judged again or given up on.
    ``names`` limits the answer to those repositories (case-insensitive).
    """
    wanted = None if names is None else [name.lower() for name in names]
    rows = conn.execute(
        f"SELECT {column_list(REPOSITORY_COLUMNS, 'r.')} FROM prmon.repositories r"
        " WHERE EXISTS (SELECT 1 FROM prmon.webhook_deliveries d"
        f" WHERE d.status = 'pending' AND {_MATCH}"
        " AND (d.reason IS NULL OR d.received_at < %(parked_before)s))"
        " AND (%(names)s::text[] IS NULL OR lower(r.full_name) = ANY(%(names)s::text[]))"
        " ORDER BY r.full_name",
        {"parked_before": parked_before, "names": wanted},
    ).fetchall()
    return [Repository(*row) for row in rows]  # type: ignore[arg-type]  # field order


def repositories_with_check_run_deliveries(conn: Conn, since: datetime) -> set[str]:
    """Registered repositories that received a ``check_run`` delivery since ``since``: their
    check runs' completions arrive by webhook, so a poll only for running checks can wait."""
    rows = conn.execute(
        "SELECT DISTINCT r.full_name FROM prmon.repositories r"
        " JOIN prmon.webhook_deliveries d ON d.event = 'check_run'"
        f" AND d.received_at >= %(since)s AND {_MATCH}",
        {"since": since},
    ).fetchall()
    return {str(row[0]) for row in rows}


def suite_runs(conn: Conn, repository_id: int, shas: Iterable[str]) -> StoredSuiteRuns:
    """Per (head SHA, app slug): the distinct check runs stored for the repository's PRs (a run
    on a SHA two PRs share is stored for both) and whether every one of them is completed."""
    rows = conn.execute(
        "SELECT c.head_sha, c.app_slug, count(DISTINCT c.github_id),"
        " bool_and(c.status = 'completed')"
        " FROM prmon.check_runs c JOIN prmon.pull_requests p ON p.id = c.pull_request_id"
        " WHERE p.repository_id = %(id)s AND c.head_sha = ANY(%(shas)s)"
        " GROUP BY c.head_sha, c.app_slug",
        {"id": repository_id, "shas": sorted(set(shas))},
    ).fetchall()
    return {
        (str(sha), None if app is None else str(app)): (int(str(count)), bool(done))
        for sha, app, count, done in rows
    }


def lock_repository(conn: Conn, repository_id: int) -> None:
    """The repository's load lock, until the caller's transaction ends (see the docstring)."""
    conn.execute(
        sql_text.lock_repository_sql(),
        {"lock_namespace": LOCK_NAMESPACE, "repository_id": repository_id},
    )


def read_pending(
    conn: Conn, repository: Repository, limit: int = BATCH_DELIVERIES
) -> list[PendingDelivery]:
    """The repository's pending deliveries, fresh ones before parked ones, each oldest first
    (call under its lock): parked check runs never crowd fresh deliveries out of a batch."""
    rows = conn.execute(
        "SELECT d.id, d.event, d.action, d.body, d.content_type, d.received_at"
        " FROM prmon.webhook_deliveries d JOIN prmon.repositories r ON r.id = %(id)s"
        f" WHERE d.status = 'pending' AND {_MATCH}"
        " ORDER BY d.reason IS NOT NULL, d.id LIMIT %(limit)s",
        {"id": repository.id, "limit": limit},
    ).fetchall()
    return [
        PendingDelivery(
            id=int(str(row[0])),
            event=str(row[1]),
            action=None if row[2] is None else str(row[2]),
            body=bytes(row[3]),  # type: ignore[call-overload]  # bytea
            content_type=str(row[4]),
            received_at=row[5],  # type: ignore[arg-type]  # timestamptz
        )
        for row in rows
    ]


def heads_of(conn: Conn, repository_id: int, shas: Iterable[str]) -> dict[int, str]:
    """Live PRs whose head is one of ``shas``: number → head SHA."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT number, head_sha FROM prmon.pull_requests WHERE repository_id = %s"
        " AND deleted_at IS NULL AND head_sha = ANY(%s)",
        (repository_id, wanted),
    ).fetchall()
    return {int(str(number)): str(sha) for number, sha in rows}


def mark_deliveries(
    conn: Conn, verdicts: Iterable[DeliveryVerdict], sync_run_id: int | None, now: datetime
) -> None:
    """Write each delivery's verdict (inside the load's transaction: a crash leaves them pending).

    Applied ones get ``applied_at``; every judged one the run's id. Parked ones stay pending
    with their reason, which keeps them out of the next fresh round until they are due.
    """
    verdicts = list(verdicts)
    if not verdicts:
        return
    conn.execute(
        "UPDATE prmon.webhook_deliveries AS d SET status = v.status, reason = v.reason,"
        " applied_at = CASE WHEN v.status = 'applied' THEN %(now)s END,"
        " sync_run_id = CASE WHEN v.status = 'pending' THEN NULL ELSE %(run)s::bigint END"
        " FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(reasons)s::text[])"
        " AS v(id, status, reason) WHERE d.id = v.id AND d.status = 'pending'",
        {
            "now": now,
            "run": sync_run_id,
            "ids": [v.delivery_id for v in verdicts],
            "statuses": [v.status for v in verdicts],
            "reasons": [
                None if v.reason is None else v.reason.replace("\x00", "") for v in verdicts
            ],
        },
    )


def _text(value: str | None) -> str | None:
    """Text PostgreSQL can store (a payload's strings may hold NUL, which ``text`` cannot)."""
    return None if value is None else value.replace("\x00", "")


def finish_event_load(conn: Conn, load: OpenLoad, audit: SyncAudit) -> LoadResult:
    """Close an events run's audit row with the load's counts.

    Unlike a poll's ``finish_load`` it leaves the sync cursors and the repository's health
    alone: deliveries say nothing about what polling last saw, and a repository whose polls
    fail must keep showing it even while its events apply.
    """
    counts = LoadCounts(
        prs_new=load.prs_new,
        prs_updated=load.prs_updated,
        check_runs_new=load.check_runs_new,
        check_runs_updated=load.check_runs_updated,
        state_changes=load.state_changes,
    )
    result = LoadResult(int(str(load.params["sync_run_id"])), with_audit_counts(counts, audit))
    finish_sync_run(conn, result, audit)
    return result
