"""Sync cursors (watermark, ETags) in the warehouse, written only by the load's transaction."""

from __future__ import annotations

from datetime import datetime

import psycopg

from prmon_pipeline.core.models import SyncCursors

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

    With ``previous`` (what this sync read before discovery), only the ETags that changed are
    written and only those dropped are deleted: a steady cycle of a repository with hundreds of
    open PRs then writes nothing but its one cursor row.
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
    watermark, etag = row if row else (None, None)
    return SyncCursors(
        pulls_watermark=watermark,  # type: ignore[arg-type]  # timestamptz column
        pulls_etag=etag,  # type: ignore[arg-type]  # text column
        check_run_etags={str(sha): str(tag) for sha, tag in etags},
    )
