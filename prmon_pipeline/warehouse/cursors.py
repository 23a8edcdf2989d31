"""Sync cursors (watermark, ETags, refused SHAs) in the warehouse, written only by the load's
transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import psycopg

from prmon_pipeline.core.models import CheckRunFailure, SyncCursors

Conn = psycopg.Connection[tuple[object, ...]]


def write_cursors(
    conn: Conn,
    repository_id: int,
    cursors: SyncCursors,
    *,
    full: bool,
    now: datetime,
    previous: SyncCursors | None = None,
) -> None:
    """Store the cursors; the watermark never moves back (an older run may commit later).

    With ``previous`` (what this sync read before discovery), only the ETags and check-run
    failures that changed are written and only those dropped are deleted: a steady cycle of a
    repository with hundreds of open PRs then writes nothing but its one cursor row.
    """
    conn.execute(
        "INSERT INTO prmon.sync_cursors AS c (repository_id, pulls_watermark, pulls_etag,"
        " last_full_sync_at, updated_at) VALUES (%(id)s, %(watermark)s, %(etag)s, %(full_at)s,"
        " %(now)s) ON CONFLICT (repository_id) DO UPDATE SET"
        " pulls_etag = CASE WHEN c.pulls_watermark IS NULL"
        " OR EXCLUDED.pulls_watermark >= c.pulls_watermark THEN EXCLUDED.pulls_etag"
        " ELSE c.pulls_etag END,"
        " pulls_watermark = greatest(c.pulls_watermark, EXCLUDED.pulls_watermark),"
        " last_full_sync_at = coalesce(EXCLUDED.last_full_sync_at, c.last_full_sync_at),"
        " updated_at = EXCLUDED.updated_at",
        {
            "id": repository_id,
            "watermark": cursors.pulls_watermark,
            "etag": cursors.pulls_etag,
            "full_at": now if full else None,
            "now": now,
        },
    )
    # The set of ETags is replaced: discovery prunes those of heads no PR points at any more.
    new = cursors.check_run_etags
    if previous is None:
        conn.execute(
            "DELETE FROM prmon.check_run_etags WHERE repository_id = %s AND NOT head_sha = ANY(%s)",
            (repository_id, list(new)),
        )
        changed = new
    else:
        dropped = [sha for sha in previous.check_run_etags if sha not in new]
        if dropped:
            conn.execute(
                "DELETE FROM prmon.check_run_etags WHERE repository_id = %s AND head_sha = ANY(%s)",
                (repository_id, dropped),
            )
        changed = {sha: tag for sha, tag in new.items() if previous.check_run_etags.get(sha) != tag}
    if changed:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO prmon.check_run_etags (repository_id, head_sha, etag)"
                " VALUES (%s, %s, %s) ON CONFLICT (repository_id, head_sha)"
                " DO UPDATE SET etag = EXCLUDED.etag",
                [(repository_id, sha, etag) for sha, etag in changed.items()],
            )
    _write_failures(
        conn,
        repository_id,
        cursors.check_run_failures,
        None if previous is None else previous.check_run_failures,
    )


def _write_failures(
    conn: Conn,
    repository_id: int,
    new: Mapping[str, CheckRunFailure],
    previous: Mapping[str, CheckRunFailure] | None,
) -> None:
    """Replace the set of refused SHAs like the ETags: only the changed rows when ``previous``."""
    if previous is None:
        conn.execute(
            "DELETE FROM prmon.check_run_failures"
            " WHERE repository_id = %s AND NOT head_sha = ANY(%s)",
            (repository_id, list(new)),
        )
        changed = dict(new)
    else:
        dropped = [sha for sha in previous if sha not in new]
        if dropped:
            conn.execute(
                "DELETE FROM prmon.check_run_failures"
                " WHERE repository_id = %s AND head_sha = ANY(%s)",
                (repository_id, dropped),
            )
        changed = {sha: f for sha, f in new.items() if previous.get(sha) != f}
    if not changed:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO prmon.check_run_failures (repository_id, head_sha, http_status, error,"
            " attempts, first_failed_at, last_failed_at, retry_after)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (repository_id, head_sha)"
            " DO UPDATE SET http_status = EXCLUDED.http_status, error = EXCLUDED.error,"
            " attempts = EXCLUDED.attempts, first_failed_at = EXCLUDED.first_failed_at,"
            " last_failed_at = EXCLUDED.last_failed_at, retry_after = EXCLUDED.retry_after",
            [
                (
                    repository_id,
                    sha,
                    f.http_status,
                    f.message,
                    f.attempts,
                    f.first_failed_at,
                    f.last_failed_at,
                    f.retry_after,
                )
                for sha, f in changed.items()
            ],
        )


def read_cursors(conn: Conn, repository_id: int) -> SyncCursors:
    """The cursors the last successful load stored (empty ones before the first sync)."""
    row = conn.execute(
        "SELECT pulls_watermark, pulls_etag FROM prmon.sync_cursors WHERE repository_id = %s",
        (repository_id,),
    ).fetchone()
    etags = conn.execute(
        "SELECT head_sha, etag FROM prmon.check_run_etags WHERE repository_id = %s",
        (repository_id,),
    ).fetchall()
    failures = conn.execute(
        "SELECT head_sha, http_status, error, attempts, first_failed_at, last_failed_at,"
        " retry_after FROM prmon.check_run_failures WHERE repository_id = %s",
        (repository_id,),
    ).fetchall()
    watermark, etag = row if row else (None, None)
    return SyncCursors(
        pulls_watermark=watermark,  # type: ignore[arg-type]  # timestamptz column
        pulls_etag=etag,  # type: ignore[arg-type]  # text column
        check_run_etags={str(sha): str(tag) for sha, tag in etags},
        check_run_failures={str(r[0]): _failure(r) for r in failures},
    )


def _failure(row: tuple[object, ...]) -> CheckRunFailure:
    sha, status, error, attempts, first, last, retry = row
    assert isinstance(first, datetime) and isinstance(last, datetime)
    assert isinstance(retry, datetime)
    return CheckRunFailure(
        head_sha=str(sha),
        http_status=int(str(status)),
        message=str(error),
        attempts=int(str(attempts)),
        first_failed_at=first,
        last_failed_at=last,
        retry_after=retry,
    )
