"""One recovery check of one hook: list since the checkpoint, redeliver, move the checkpoint.

The checkpoint moves to the time the listing *started* (the next check looks a few minutes
further back, see ``core.webhook_recovery.CHECK_OVERLAP``), and only when every redelivery was
accepted: anything delivered while the check ran is seen by the next one, and a check that
failed half-way is repeated over the same window (a GUID redelivered already has a new attempt
then, which the next check groups with it; if that attempt is OK the GUID is not sent again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from prmon_pipeline.core.errors import GitHubError
from prmon_pipeline.core.webhook_recovery import (
    DeliveryAttempt,
    HookScope,
    check_window_start,
    plan_redeliveries,
)
from prmon_pipeline.github.client import GitHubClient, RequestTally
from prmon_pipeline.github.webhook_deliveries import list_attempts_since, redeliver
from prmon_pipeline.warehouse.webhook_recoveries import last_checked_at, save_checkpoint


@dataclass(frozen=True)
class RecoveryResult:
    """What ``prmon webhooks recover`` prints for one hook."""

    hook: str
    since: datetime
    checked_at: datetime
    attempts: int
    found: int
    already_ok: int
    redelivered: list[str] = field(default_factory=list)
    """GUIDs whose redelivery GitHub accepted."""
    failed: dict[str, str] = field(default_factory=dict)
    """GUID → one-line reason, for redeliveries GitHub refused or that could not be sent."""
    dry_run: bool = False
    requests: int = 0
    checkpoint_moved: bool = False

    @property
    def pending(self) -> int:
        """GUIDs that still need a redelivery (a dry run redelivers none)."""
        return self.found - self.already_ok - len(self.redelivered)


async def recover_hook(
    client: GitHubClient,
    conn: psycopg.Connection[tuple[object, ...]],
    scope: HookScope,
    now: datetime,
    *,
    dry_run: bool = False,
) -> RecoveryResult:
    """Run one check of ``scope`` as of ``now`` (see the module docstring)."""
    since = check_window_start(last_checked_at(conn, scope), now)
    tally = RequestTally()
    plan = plan_redeliveries(await list_attempts_since(client, scope, since, tally), since)
    redelivered: list[str] = []
    failed: dict[str, str] = {}
    if not dry_run:
        for attempt in plan.to_redeliver:
            reason = await _redeliver(client, scope, attempt, tally)
            if reason is None:
                redelivered.append(attempt.guid)
            else:
                failed[attempt.guid] = reason
    moved = not dry_run and not failed
    if moved:
        save_checkpoint(conn, scope, now)
    return RecoveryResult(
        hook=str(scope),
        since=since,
        checked_at=now,
        attempts=plan.attempts,
        found=plan.found,
        already_ok=plan.already_ok,
        redelivered=redelivered,
        failed=failed,
        dry_run=dry_run,
        requests=tally.requests,
        checkpoint_moved=moved,
    )


async def _redeliver(
    client: GitHubClient, scope: HookScope, attempt: DeliveryAttempt, tally: RequestTally
) -> str | None:
    """None when GitHub accepted the redelivery; else why not (one delivery's error)."""
    try:
        await redeliver(client, scope, attempt, tally)
    except GitHubError as exc:
        return str(exc)
    return None
