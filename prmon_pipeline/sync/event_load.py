"""The blocking halves of applying deliveries: one load transaction each, under the repository's
lock, with the existing snapshot, changeset and load.

:func:`apply_deliveries`: read the pending rows, order them (``core.webhook_ordering``), read the
touched PRs' stored rows, settle, compute the changeset, load it, move the registry row if a
rename/transfer said so, and mark every delivery — all in ONE transaction, so a crash anywhere
before COMMIT leaves every delivery pending and the next round applies them again; the load's
guards and the digests make that idempotent.

:func:`load_polled`: the rows the targeted polls read, loaded the same way (GitHub's answer is
the truth of now, so it goes through the load's own guards only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
import pyarrow as pa

from prmon_pipeline.core.changeset import Changeset, compute_changeset
from prmon_pipeline.core.costs import ApiCost
from prmon_pipeline.core.errors import PrmonError
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.core.webhook_events import (
    DeliveryVerdict,
    EventBatch,
    decode_deliveries,
)
from prmon_pipeline.core.webhook_ordering import assemble_batch, attach_by_head, heads_of_batch
from prmon_pipeline.core.webhook_settlement import (
    settle_with_stored,
    settled_suites,
    without_settled_suites,
)
from prmon_pipeline.warehouse.audit import LoadResult, SyncAudit
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.load import begin_load, load_rows
from prmon_pipeline.warehouse.repositories import Repository, rename_repository
from prmon_pipeline.warehouse.retry import with_transient_retries
from prmon_pipeline.warehouse.snapshot import read_snapshot
from prmon_pipeline.warehouse.webhook_pending import (
    BATCH_DELIVERIES,
    finish_event_load,
    heads_of,
    lock_repository,
    mark_deliveries,
    read_pending,
    suite_runs,
)

from .options import SyncOptions
from .stages import touched_numbers

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class AppliedDeliveries:
    """One transaction's deliveries: what was loaded, the verdicts, and what is left to poll."""

    deliveries: int
    batch: EventBatch
    verdicts: tuple[DeliveryVerdict, ...]
    """Every delivery's final verdict (the batch's, but a refused rename's)."""
    changeset: Changeset
    load: LoadResult
    renamed_to: str | None
    records_seen: tuple[int, int]
    """PR and check-run records the deliveries carried (before ordering)."""


def audit_for(options: SyncOptions, started_at: datetime, cost: ApiCost | None = None) -> SyncAudit:
    """An events run's audit: mode ``events``, its API requests only the targeted polls'."""
    return SyncAudit(
        mode="events",
        started_at=started_at,
        cost=cost or ApiCost(),
        dagster_run_id=options.dagster_run_id,
    )


def apply_deliveries(
    database_url: str,
    repository: Repository,
    options: SyncOptions,
    *,
    started_at: datetime,
    now: datetime,
    limit: int = BATCH_DELIVERIES,
) -> AppliedDeliveries | None:
    """Apply up to ``limit`` pending deliveries of ``repository``; None when none were pending.

    Retried whole on transient database errors, like every load.
    """

    def attempt() -> AppliedDeliveries | None:
        with connect(database_url, autocommit=True) as conn, conn.transaction():
            return _apply(conn, repository, options, started_at, now, limit)

    return with_transient_retries(attempt, options.load_attempts)


def _apply(  # noqa: PLR0917 - the body of apply_deliveries' transaction
    conn: Conn,
    repository: Repository,
    options: SyncOptions,
    started_at: datetime,
    now: datetime,
    limit: int,
) -> AppliedDeliveries | None:
    lock_repository(conn, repository.id)
    deliveries = read_pending(conn, repository, limit)
    if not deliveries:
        return None
    decoded = decode_deliveries(deliveries)
    records_seen = (len(decoded.pull_requests), len(decoded.check_runs))
    known = heads_of(conn, repository.id, decoded.check_run_head_shas)
    batch = assemble_batch(decoded, repository.full_name, known, now)
    stored_prs, stored_runs = read_snapshot(
        conn, repository.id, touched_numbers(batch.pull_requests, batch.check_runs)
    )
    batch = settle_with_stored(batch, stored_prs, stored_runs, repository.full_name)
    changeset = compute_changeset(
        batch.pull_requests, stored_prs, batch.check_runs, stored_runs, "events"
    )
    audit = audit_for(options, started_at)
    load = begin_load(conn, repository.id, audit, now)
    load_rows(
        conn, load, pull_requests=changeset.prs_to_upsert, check_runs=changeset.check_runs_to_upsert
    )
    if decoded.suites:  # after the load: the batch's own completed runs count
        stored = suite_runs(conn, repository.id, {hint.head_sha for hint in decoded.suites})
        settled = settled_suites(decoded.suites, stored)
        batch = without_settled_suites(batch, decoded.suites, settled)
    verdicts, renamed_to = _move(conn, repository, batch)
    result = finish_event_load(conn, load, _with_unchanged(audit, changeset))
    mark_deliveries(conn, verdicts, result.sync_run_id, now)
    return AppliedDeliveries(
        len(deliveries), batch, verdicts, changeset, result, renamed_to, records_seen
    )


def _with_unchanged(audit: SyncAudit, changeset: Changeset) -> SyncAudit:
    return SyncAudit(
        mode=audit.mode,
        started_at=audit.started_at,
        cost=audit.cost,
        prs_unchanged=changeset.prs_unchanged,
        dagster_run_id=audit.dagster_run_id,
    )


def _move(
    conn: Conn, repository: Repository, batch: EventBatch
) -> tuple[tuple[DeliveryVerdict, ...], str | None]:
    """Follow a rename/transfer as the 301 path does; a name the registry cannot take (invalid,
    or another live row's) rejects that delivery and leaves the registry as it was."""
    move = batch.move
    if move is None:
        return batch.verdicts, None
    try:
        name = str(parse_repo_key(move.full_name))
        with conn.transaction():
            rename_repository(conn, repository.id, name)
    except (PrmonError, psycopg.errors.UniqueViolation) as error:
        rejected = DeliveryVerdict(move.delivery_id, "rejected", f"cannot rename: {error}")
        others = tuple(v for v in batch.verdicts if v.delivery_id != move.delivery_id)
        return (*others, rejected), None
    return batch.verdicts, name


def load_polled(
    database_url: str,
    repository: Repository,
    pull_requests: pa.Table,
    check_runs: pa.Table,
    options: SyncOptions,
    *,
    cost: ApiCost,
    started_at: datetime,
    now: datetime,
) -> tuple[Changeset, LoadResult]:
    """Load what the targeted polls read: runs attached by head SHA (the warehouse's PRs and the
    polled ones), snapshot, changeset and load in one transaction under the lock."""

    def attempt() -> tuple[Changeset, LoadResult]:
        with connect(database_url, autocommit=True) as conn, conn.transaction():
            lock_repository(conn, repository.id)
            shas = {str(s) for s in check_runs.column("head_sha").to_pylist()}
            heads = heads_of_batch(heads_of(conn, repository.id, shas), pull_requests)
            runs = attach_by_head(check_runs, heads)
            stored_prs, stored_runs = read_snapshot(
                conn, repository.id, touched_numbers(pull_requests, runs)
            )
            changeset = compute_changeset(pull_requests, stored_prs, runs, stored_runs, "events")
            audit = _with_unchanged(audit_for(options, started_at, cost), changeset)
            load = begin_load(conn, repository.id, audit, now)
            load_rows(
                conn,
                load,
                pull_requests=changeset.prs_to_upsert,
                check_runs=changeset.check_runs_to_upsert,
            )
            return changeset, finish_event_load(conn, load, audit)

    return with_transient_retries(attempt, options.load_attempts)
