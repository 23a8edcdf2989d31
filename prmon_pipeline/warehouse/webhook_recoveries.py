"""Checkpoints of ``prmon webhooks recover``: when each hook was last checked successfully.

One row per hook in ``prmon.webhook_recoveries`` (scope, target, hook id). A checkpoint only
moves forward, and only after every redelivery of that check succeeded, so a failed check is
simply done again over the same window.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from prmon_pipeline.core.webhook_recovery import HookScope

Conn = psycopg.Connection[tuple[object, ...]]

READ_SQL = """
SELECT last_checked_at FROM prmon.webhook_recoveries
WHERE scope = %s AND target = %s AND hook_id = %s
"""
SAVE_SQL = """
INSERT INTO prmon.webhook_recoveries (scope, target, hook_id, last_checked_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (scope, target, hook_id) DO UPDATE
SET last_checked_at = GREATEST(webhook_recoveries.last_checked_at, EXCLUDED.last_checked_at)
"""


def last_checked_at(conn: Conn, scope: HookScope) -> datetime | None:
    """The hook's checkpoint, or None before its first successful check."""
    row = conn.execute(READ_SQL, (scope.kind, scope.target, scope.hook_id)).fetchone()
    return row[0] if row is not None else None  # type: ignore[return-value]


def save_checkpoint(conn: Conn, scope: HookScope, checked_at: datetime) -> None:
    """Move the hook's checkpoint to ``checked_at`` (never backwards)."""
    with conn.transaction():
        conn.execute(SAVE_SQL, (scope.kind, scope.target, scope.hook_id, checked_at))
