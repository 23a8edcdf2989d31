"""The stages of one repository's sync, each a plain function returning a typed value.

read state → read index → discover → snapshot → changeset → store. They hold no policy on
failure: ``sync.runner`` times them, catches and records. Database stages are blocking (they
run in worker threads, so other repositories' requests keep flowing on the event loop: psycopg
and Polars release the GIL while they work); discovery is async.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from prmon_pipeline.core.changeset import Changeset, compute_changeset
from prmon_pipeline.core.changeset_digests import compute_changeset_from_digests
from prmon_pipeline.core.costs import ApiCost, LoadCounts
from prmon_pipeline.core.discovery_plan import KnownPullRequest
from prmon_pipeline.core.errors import BudgetReservedError
from prmon_pipeline.core.models import ComparisonPath, SyncCursors
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.discovery import DiscoveryResult, SliceSink, discover_repository
from prmon_pipeline.warehouse.audit import LoadResult, SyncAudit, record_dry_run
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.cursors import read_cursors
from prmon_pipeline.warehouse.load import load_changeset
from prmon_pipeline.warehouse.repositories import (
    Repository,
    get_repository,
    rename_repository,
    replace_repository,
    set_github_id,
)
from prmon_pipeline.warehouse.retry import with_transient_retries
from prmon_pipeline.warehouse.snapshot import (
    DigestSnapshot,
    FullSnapshot,
    read_pull_request_index,
    read_snapshot,
    read_snapshot_by_digest,
)

from .options import SyncOptions

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RepositoryState:
    """The registry row of a repository and the cursors its last successful load stored."""

    repository: Repository
    cursors: SyncCursors


def read_state(database_url: str, key: str) -> RepositoryState:
    """Look the repository up (a clear error if unregistered) with its cursors."""
    name = parse_repo_key(key)
    with connect(database_url, autocommit=True) as conn:
        row = get_repository(conn, name)
        return RepositoryState(row, read_cursors(conn, row.id))


def read_index(database_url: str, repository_id: int) -> dict[int, KnownPullRequest]:
    """The warehouse's PR index as discovery wants it: head SHA, state, pending checks."""
    with connect(database_url, autocommit=True) as conn:
        index = read_pull_request_index(conn, repository_id)
    return {
        int(row["number"]): KnownPullRequest(
            number=int(row["number"]),
            head_sha=str(row["head_sha"]),
            state=str(row["state"]),
            closed_at=row["closed_at"],
            checks_pending=bool(row["checks_pending"]),
        )
        for row in index.select(
            ["number", "head_sha", "state", "closed_at", "checks_pending"]
        ).to_pylist()
    }


async def discover(
    client: GitHubClient,
    state: RepositoryState,
    known: dict[int, KnownPullRequest],
    options: SyncOptions,
    *,
    now: datetime,
    on_slice: SliceSink | None = None,
) -> DiscoveryResult:
    """What GitHub shows now, within the rate limit."""
    return await discover_repository(
        client,
        state.repository.full_name,
        state.cursors,
        known,
        mode=options.mode,
        pr_number=options.pr_number,
        now=now,
        overlap=options.overlap,
        check_runs_lookback=options.check_runs_lookback,
        refresh_open_checks=options.refresh_open_checks,
        on_slice=on_slice,
        slice_rows=options.slice_pull_requests,
        expected_repository_id=state.repository.github_id,
        api=options.api,
    )


def replace_repository_cold(
    database_url: str, state: RepositoryState, seen_id: int, reason: str, now: datetime
) -> RepositoryState:
    """The name now means another GitHub repository: retire the old rows (soft delete with the
    reason, cursors and ETags dropped) and start the new one cold under the same name."""
    with connect(database_url, autocommit=True) as conn:
        row = replace_repository(
            conn, state.repository, new_github_id=seen_id, reason=reason, now=now
        )
    return RepositoryState(row, SyncCursors())


def remember_github_id(
    database_url: str, state: RepositoryState, discovery: DiscoveryResult
) -> None:
    """Record the repository's GitHub id the first time a sync sees it."""
    seen = discovery.github_repository_id
    if seen is not None and state.repository.github_id is None:
        with connect(database_url, autocommit=True) as conn:
            set_github_id(conn, state.repository.id, seen)


def touched_numbers(pull_requests: pa.Table, check_runs: pa.Table) -> list[int]:
    """The PR numbers whose stored rows the changeset compares against."""
    touched = (
        pull_requests.column("number").to_pylist() + check_runs.column("pr_number").to_pylist()
    )
    return [int(str(n)) for n in touched]


SnapshotRead = DigestSnapshot | FullSnapshot
"""What the snapshot stage read: digests and differing rows, or every touched row in full."""


def read_discovery_snapshot(
    database_url: str,
    state: RepositoryState,
    discovery: DiscoveryResult,
    options: SyncOptions,
    path: ComparisonPath | None = None,
) -> SnapshotRead:
    """The stored rows the changeset compares discovery's against (the touched PRs and their
    runs; all in full mode), by ``path`` (default: ``options.comparison_path()``); retried on
    transient errors.

    ``digest_first`` reads ``(key, digest)`` and in full only the rows whose digest differs
    from what discovery saw (``core.changeset_digests``); ``full_comparison`` reads every one.
    """
    path = path or options.comparison_path()
    numbers = (
        None
        if options.mode == "full"
        else touched_numbers(discovery.pull_requests, discovery.check_runs)
    )

    def read() -> SnapshotRead:
        with connect(database_url, autocommit=True) as conn:
            if path == "full_comparison":
                return FullSnapshot(*read_snapshot(conn, state.repository.id, numbers))
            return read_snapshot_by_digest(
                conn, state.repository.id, numbers, discovery.pull_requests, discovery.check_runs
            )

    return with_transient_retries(read, options.load_attempts)


def diff(discovery: DiscoveryResult, snapshot: SnapshotRead, options: SyncOptions) -> Changeset:
    """The changeset: what discovery saw against what the warehouse holds (pure Polars)."""
    if isinstance(snapshot, FullSnapshot):
        return compute_changeset(
            discovery.pull_requests,
            snapshot.pull_requests,
            discovery.check_runs,
            snapshot.check_runs,
            options.mode,
        )
    # The snapshot stage digested discovery's rows already (``snapshot.comparison``).
    return compute_changeset_from_digests(
        snapshot.comparison,
        snapshot.differing_pull_requests,
        snapshot.differing_check_runs,
        options.mode,
    )


def audit_of(
    discovery: DiscoveryResult | None,
    options: SyncOptions,
    started_at: datetime,
    prs_unchanged: int = 0,
) -> SyncAudit:
    """The audit row's figures: the run's options and what discovery cost (if it got that far)."""
    if discovery is None:
        return SyncAudit(
            mode=options.mode,
            started_at=started_at,
            dry_run=options.dry_run,
            dagster_run_id=options.dagster_run_id,
        )
    return SyncAudit(
        mode=options.mode,
        started_at=started_at,
        dry_run=options.dry_run,
        cost=discovery.stats.cost,
        prs_unchanged=prs_unchanged,
        item_errors=len(discovery.item_failures),
        dagster_run_id=options.dagster_run_id,
    )


def budget_reading(stop: BudgetReservedError) -> ApiCost:
    """What a run stopped by ``--max-budget-share`` knows of its pool: the audit row's reading."""
    if stop.pool == "graphql":
        return ApiCost(graphql_remaining=stop.remaining)
    return ApiCost(rate_limit_remaining=stop.remaining, rate_limit_reset=stop.reset_epoch)


def preview(changeset: Changeset) -> LoadCounts:
    """What the load would report for this changeset (a dry run's figures)."""
    return LoadCounts(
        prs_new=changeset.prs_new.num_rows,
        prs_updated=changeset.prs_updated.num_rows,
        prs_deleted=changeset.prs_deleted.num_rows,
        check_runs_new=changeset.check_runs_new.num_rows,
        check_runs_updated=changeset.check_runs_updated.num_rows,
        state_changes=changeset.state_transitions.num_rows,
    )


def store(
    database_url: str,
    state: RepositoryState,
    discovery: DiscoveryResult,
    changeset: Changeset,
    options: SyncOptions,
    *,
    started_at: datetime,
    now: Now = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> LoadResult:
    """The load, in one transaction retried whole on transient errors; a dry run only audits."""
    audit = audit_of(discovery, options, started_at, changeset.prs_unchanged)
    repository_id = state.repository.id
    if options.dry_run:
        with connect(database_url, autocommit=True) as conn:
            return record_dry_run(conn, repository_id, audit, preview(changeset))

    def load() -> LoadResult:
        with connect(database_url, autocommit=True) as conn:
            if discovery.renamed_to:
                rename_repository(conn, repository_id, discovery.renamed_to)
            return load_changeset(
                conn,
                repository_id,
                pull_requests=changeset.prs_to_upsert,
                check_runs=changeset.check_runs_to_upsert,
                deleted_numbers=[
                    int(str(n)) for n in changeset.prs_deleted.column("number").to_pylist()
                ],
                cursors=discovery.cursors,
                audit=audit,
                now=now(),
                previous_cursors=state.cursors,
            )

    return with_transient_retries(load, options.load_attempts, sleep)
