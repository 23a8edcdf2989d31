"""``sync_repository``: discovery → snapshot → changeset → load for one repository.

The same stage functions run under Dagster (one asset per stage, persisted between steps) and
under ``prmon sync`` (all stages in one call). Nothing here imports Dagster.

Failures: any error in a stage ends the run for this repository; the load's transaction is then
rolled back whole, the failure is recorded in a short transaction of its own (``sync_runs`` row
with ``status = failed``, ``failure_count + 1``, ``last_error``), and a :class:`SyncError` naming
the repository and the stage is raised. Transient database errors (serialization failure,
deadlock, lost connection, admin shutdown) are retried with back-off first: the transaction is
redone whole, so a retry is always safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import psycopg
import pyarrow as pa

from prmon_pipeline.core.changeset import CHANGESET_COUNT_NAMES, Changeset, compute_changeset
from prmon_pipeline.core.discovery_plan import KnownPullRequest
from prmon_pipeline.core.errors import PrmonError
from prmon_pipeline.core.models import SyncCursors, SyncMode
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.discovery import (
    SLICE_PULL_REQUESTS,
    DiscoveryResult,
    DiscoverySlice,
    SliceSink,
    discover_repository,
)
from prmon_pipeline.warehouse.audit import LoadResult, SyncAudit, record_dry_run, record_failure
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.cursors import read_cursors
from prmon_pipeline.warehouse.load import (
    OpenLoad,
    begin_load,
    finish_load,
    load_changeset,
    load_rows,
    refresh_grown_statistics,
)
from prmon_pipeline.warehouse.repositories import Repository, get_repository, rename_repository
from prmon_pipeline.warehouse.retry import with_transient_retries
from prmon_pipeline.warehouse.snapshot import read_pull_request_index, read_snapshot

Conn = psycopg.Connection[tuple[object, ...]]
Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SyncError(PrmonError):
    """A repository's sync failed at a named stage; the failure is already recorded."""

    def __init__(self, repository: str, stage: str, cause: BaseException) -> None:
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        super().__init__(f"{repository}: {stage} failed: {reason}")
        self.repository = repository
        self.stage = stage
        self.transient = getattr(cause, "transient", False)


@dataclass(frozen=True)
class SyncOptions:
    """How to sync: the mode, a dry run, one PR, and the limits that protect the rate limit."""

    mode: SyncMode = "incremental"
    dry_run: bool = False
    pr_number: int | None = None
    overlap: timedelta = timedelta(minutes=5)
    check_runs_lookback: timedelta | None = timedelta(days=30)
    refresh_open_checks: bool = False
    """Also poll the check runs of every open PR (free 304s, one request each): the periodic
    sweep that finds re-runs on PRs that did not otherwise change."""
    dagster_run_id: str | None = None
    load_attempts: int = 4
    slice_pull_requests: int = SLICE_PULL_REQUESTS
    """An incremental walk longer than this is stored slice by slice (see :class:`SlicedLoad`)."""


@dataclass(frozen=True)
class SyncResult:
    """What one repository's sync saw, changed and cost."""

    repository: str
    mode: SyncMode
    dry_run: bool
    changeset: Changeset
    load: LoadResult
    discovery: DiscoveryResult
    durations: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Flat figures for tables, JSON output and Dagster metadata."""
        counters = self.discovery.stats
        return {
            "repository": self.repository,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "prs_seen": self.discovery.pull_requests.num_rows,
            "check_runs_seen": self.discovery.check_runs.num_rows,
            "prs_new": self.load.prs_new,
            "prs_updated": self.load.prs_updated,
            "prs_unchanged": self.changeset.prs_unchanged,
            "prs_deleted": self.load.prs_deleted,
            "check_runs_new": self.load.check_runs_new,
            "check_runs_updated": self.load.check_runs_updated,
            "state_changes": self.load.state_changes,
            "api_requests": counters.requests,
            "api_not_modified": counters.not_modified,
            "rate_limit_remaining": counters.rate_limit_remaining,
            "retries": counters.retries,
            "waits": counters.waits,
            **{f"seconds_{stage}": round(s, 4) for stage, s in self.durations.items()},
        }


@contextmanager
def _timed(durations: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        durations[stage] = durations.get(stage, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class SyncContext:
    """What the warehouse knows of a repository before discovery: its row, cursors and index."""

    repository: Repository
    cursors: SyncCursors
    index: pa.Table


def read_sync_context(database_url: str, repository: str) -> SyncContext:
    """Look the repository up (a clear error if unregistered) with its cursors and PR index."""
    key = parse_repo_key(repository)
    with connect(database_url, autocommit=True) as conn:
        row = get_repository(conn, key)
        return SyncContext(row, read_cursors(conn, row.id), read_pull_request_index(conn, row.id))


async def discover(
    client: GitHubClient,
    context: SyncContext,
    options: SyncOptions,
    now: datetime,
    on_slice: SliceSink | None = None,
) -> DiscoveryResult:
    """The discovery stage: what GitHub shows now, within the rate limit."""
    return await discover_repository(
        client,
        context.repository.full_name,
        context.cursors,
        known_pull_requests(context.index),
        mode=options.mode,
        pr_number=options.pr_number,
        now=now,
        overlap=options.overlap,
        check_runs_lookback=options.check_runs_lookback,
        refresh_open_checks=options.refresh_open_checks,
        on_slice=on_slice,
        slice_rows=options.slice_pull_requests,
    )


def known_pull_requests(index: pa.Table) -> dict[int, KnownPullRequest]:
    """The warehouse's PR index as discovery wants it: number → head SHA, state, pending checks."""
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


def build_changeset(
    database_url: str,
    context: SyncContext,
    discovery: DiscoveryResult,
    mode: SyncMode,
    *,
    durations: dict[str, float] | None = None,
    attempts: int = 4,
) -> Changeset:
    """Snapshot the touched rows (all rows in full mode) and diff them against discovery."""
    durations = {} if durations is None else durations
    numbers = (
        None if mode == "full" else touched_numbers(discovery.pull_requests, discovery.check_runs)
    )

    def snapshot() -> tuple[pa.Table, pa.Table]:
        with connect(database_url, autocommit=True) as conn:
            return read_snapshot(conn, context.repository.id, numbers)

    with _timed(durations, "snapshot"):
        snapshot_prs, snapshot_runs = with_transient_retries(snapshot, attempts)
    with _timed(durations, "changeset"):
        return compute_changeset(
            discovery.pull_requests, snapshot_prs, discovery.check_runs, snapshot_runs, mode
        )


def touched_numbers(pull_requests: pa.Table, check_runs: pa.Table) -> list[int]:
    """The PR numbers whose stored rows the changeset compares against."""
    touched = (
        pull_requests.column("number").to_pylist() + check_runs.column("pr_number").to_pylist()
    )
    return [int(str(n)) for n in touched]


def apply_changeset(
    database_url: str,
    context: SyncContext,
    discovery: DiscoveryResult,
    changeset: Changeset,
    *,
    options: SyncOptions,
    started_at: datetime,
    now: Now = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> LoadResult:
    """The load stage, retried whole on transient database errors; dry runs only audit."""
    audit = _audit(discovery, options, started_at, changeset.prs_unchanged)
    repository_id = context.repository.id
    if options.dry_run:
        with connect(database_url, autocommit=True) as conn:
            preview = _preview(changeset)
            return replace(preview, sync_run_id=record_dry_run(conn, repository_id, audit, preview))

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
                previous_cursors=context.cursors,
            )

    return with_transient_retries(load, options.load_attempts, sleep)


def _preview(changeset: Changeset) -> LoadResult:
    """What the load would report for this changeset (a dry run's figures)."""
    return LoadResult(
        sync_run_id=0,
        prs_new=changeset.prs_new.num_rows,
        prs_updated=changeset.prs_updated.num_rows,
        prs_deleted=changeset.prs_deleted.num_rows,
        check_runs_new=changeset.check_runs_new.num_rows,
        check_runs_updated=changeset.check_runs_updated.num_rows,
        state_changes=changeset.state_transitions.num_rows,
    )


def _audit(
    discovery: DiscoveryResult | None,
    options: SyncOptions,
    started_at: datetime,
    prs_unchanged: int = 0,
) -> SyncAudit:
    """The audit row's figures: the run's options and what discovery cost (if it got that far)."""
    stats = discovery.stats if discovery else None
    return SyncAudit(
        mode=options.mode,
        started_at=started_at,
        dry_run=options.dry_run,
        api_requests=stats.requests if stats else 0,
        api_not_modified=stats.not_modified if stats else 0,
        rate_limit_remaining=stats.rate_limit_remaining if stats else None,
        prs_unchanged=prs_unchanged,
        dagster_run_id=options.dagster_run_id,
    )


def record_sync_failure(
    database_url: str,
    repository: Repository,
    *,
    options: SyncOptions,
    started_at: datetime,
    error: str,
    discovery: DiscoveryResult | None = None,
    now: Now = utc_now,
) -> None:
    """Record a failed run in its own transaction (the load's, if any, was rolled back)."""
    audit = _audit(discovery, options, started_at)
    with connect(database_url, autocommit=True) as conn:
        record_failure(conn, repository.id, audit, error, now())


async def sync_repository(
    repository: str,
    *,
    database_url: str,
    client: GitHubClient,
    options: SyncOptions | None = None,
    now: Now = utc_now,
) -> SyncResult:
    """Sync one repository end to end and return its figures; raise :class:`SyncError` on failure.

    The failure is recorded in the warehouse before the error is raised.
    """
    options = options or SyncOptions()
    started_at = now()
    durations: dict[str, float] = {}
    # Database stages run in worker threads so that other repositories' HTTP requests keep
    # flowing on the event loop meanwhile (psycopg and Polars release the GIL while they work).
    context = await asyncio.to_thread(read_sync_context, database_url, repository)
    discovery: DiscoveryResult | None = None
    stage = "discovery"
    sliced = None
    if options.mode == "incremental" and not options.dry_run:
        sliced = SlicedLoad(database_url, context, options, started_at, durations, now)
    try:
        with _timed(durations, "discovery"):
            discovery = await discover(
                client, context, options, started_at, sliced.add if sliced else None
            )
        durations["parse"] = discovery.stats.parse_seconds  # a part of discovery's time
        if sliced is not None and sliced.started:
            stage = "load"
            changeset, load = await sliced.finish(discovery)
            return _result(context, options, changeset, load, discovery, durations)
        stage = "changeset"
        changeset = await asyncio.to_thread(
            build_changeset,
            database_url,
            context,
            discovery,
            options.mode,
            durations=durations,
            attempts=options.load_attempts,
        )
        stage = "load"
        with _timed(durations, "load"):
            load = await asyncio.to_thread(
                apply_changeset,
                database_url,
                context,
                discovery,
                changeset,
                options=options,
                started_at=started_at,
                now=now,
            )
    except Exception as exc:
        if sliced is not None:
            stage = "load" if sliced.failed else stage
            await sliced.abort()
        error = SyncError(context.repository.full_name, stage, exc)
        await asyncio.to_thread(
            record_sync_failure,
            database_url,
            context.repository,
            options=options,
            started_at=started_at,
            error=str(error),
            discovery=discovery,
            now=now,
        )
        raise error from exc
    return _result(context, options, changeset, load, discovery, durations)


def _result(  # noqa: PLR0917 - the parts of a result, in its own order
    context: SyncContext,
    options: SyncOptions,
    changeset: Changeset,
    load: LoadResult,
    discovery: DiscoveryResult,
    durations: dict[str, float],
) -> SyncResult:
    return SyncResult(
        repository=context.repository.full_name,
        mode=options.mode,
        dry_run=options.dry_run,
        changeset=changeset,
        load=load,
        discovery=discovery,
        durations=durations,
    )


class SlicedLoad:
    """One load transaction fed slice by slice while discovery walks a long PR list.

    A first sync of a 100,000-PR repository would otherwise hold every PR and check run through
    discovery, changeset and load (2 GB of RSS). The transaction opens with the first slice (the
    repository's lock, the audit row) and stays open until the last slice is stored with the
    cursors of all of them: nothing is visible before COMMIT and a failure anywhere rolls every
    slice back, as in a load of one piece. Each slice's snapshot is read inside the transaction,
    so a PR seen twice (the walk's pages shift) compares against its first copy. A slice is
    stored in a worker thread while the walk fetches the next one; at most one slice waits.
    A walk shorter than one slice never opens it: the ordinary stages run instead.
    """

    def __init__(  # noqa: PLR0917 - what sync_repository holds, passed on as it is
        self,
        database_url: str,
        context: SyncContext,
        options: SyncOptions,
        started_at: datetime,
        durations: dict[str, float],
        now: Now,
    ) -> None:
        self._url, self._context, self._options = database_url, context, options
        self._started_at, self._durations, self._now = started_at, durations, now
        self._conn: Conn | None = None
        self._load: OpenLoad | None = None
        self._pending: asyncio.Task[Changeset] | None = None
        self._counts = dict.fromkeys(CHANGESET_COUNT_NAMES, 0)
        self.failed = False
        """Storing a slice failed (the walk then stops with that error)."""

    @property
    def started(self) -> bool:
        return self._conn is not None

    async def add(self, piece: DiscoverySlice) -> None:
        """Store a slice (after the previous one is stored)."""
        await self._settle()
        self._pending = asyncio.create_task(
            asyncio.to_thread(self._store, piece.pull_requests, piece.check_runs)
        )

    async def finish(self, discovery: DiscoveryResult) -> tuple[Changeset, LoadResult]:
        """Store the last slice with the cursors and the audit row, and commit."""
        await self._settle()
        return await asyncio.to_thread(self._finish, discovery)

    async def abort(self) -> None:
        """Roll everything back (after a failure of the walk or of a slice)."""
        with contextlib.suppress(Exception):  # the failure being handled is the one reported
            await self._settle()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)  # closing an open transaction rolls it back

    async def _settle(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            try:
                await pending
            except Exception:
                self.failed = True
                raise

    def _open(self) -> tuple[Conn, OpenLoad]:
        if self._conn is None or self._load is None:
            self._conn = connect(self._url)  # not autocommit: one transaction until COMMIT
            audit = _audit(None, self._options, self._started_at)
            self._load = begin_load(self._conn, self._context.repository.id, audit, self._now())
        return self._conn, self._load

    def _store(self, pull_requests: pa.Table, check_runs: pa.Table) -> Changeset:
        conn, load = self._open()
        with _timed(self._durations, "snapshot"):
            numbers = touched_numbers(pull_requests, check_runs)
            snapshot_prs, snapshot_runs = read_snapshot(conn, load.repository_id, numbers)
        with _timed(self._durations, "changeset"):
            changeset = compute_changeset(
                pull_requests, snapshot_prs, check_runs, snapshot_runs, "incremental"
            )
        with _timed(self._durations, "load"):
            load_rows(
                conn,
                load,
                pull_requests=changeset.prs_to_upsert,
                check_runs=changeset.check_runs_to_upsert,
            )
            refresh_grown_statistics(conn, load)
        for name in self._counts:
            self._counts[name] += getattr(changeset, name)
        return changeset

    def _finish(self, discovery: DiscoveryResult) -> tuple[Changeset, LoadResult]:
        last = self._store(discovery.pull_requests, discovery.check_runs)
        conn, load = self._open()
        with _timed(self._durations, "load"):
            if discovery.renamed_to:
                rename_repository(conn, load.repository_id, discovery.renamed_to)
            audit = _audit(
                discovery, self._options, self._started_at, self._counts["prs_unchanged"]
            )
            result = finish_load(
                conn,
                load,
                deleted_numbers=[],
                cursors=discovery.cursors,
                audit=audit,
                previous_cursors=self._context.cursors,
            )
            conn.commit()
        conn.close()
        self._conn = None
        totals = replace(
            last,
            prs_unchanged=self._counts["prs_unchanged"],
            prs_stale=self._counts["prs_stale"],
            check_runs_unchanged=self._counts["check_runs_unchanged"],
        )
        return totals, result


@dataclass(frozen=True)
class SyncOutcome:
    """One repository's result in a multi-repository sync: its figures, or the error it met.

    Only the figures are kept, not the tables: a sync of a hundred repositories must not hold
    every repository's PRs and check runs until the last one is done.
    """

    repository: str
    figures: dict[str, object] | None = None
    durations: dict[str, float] = field(default_factory=dict)
    error: PrmonError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def sync_repositories(
    repositories: list[str],
    *,
    database_url: str,
    client: GitHubClient,
    options: SyncOptions | None = None,
    concurrency: int = 4,
    on_done: Callable[[SyncOutcome], None] | None = None,
    now: Now = utc_now,
) -> list[SyncOutcome]:
    """Sync many repositories concurrently (at most ``concurrency`` at once).

    Each repository is isolated: one failing (its failure recorded) never stops the others.
    The GitHub client's own bound still limits concurrent requests across all of them.
    """
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(repository: str) -> SyncOutcome:
        async with limit:
            try:
                result = await sync_repository(
                    repository, database_url=database_url, client=client, options=options, now=now
                )
                outcome = SyncOutcome(repository, result.summary(), result.durations)
            except PrmonError as exc:
                outcome = SyncOutcome(repository, error=exc)
        if on_done is not None:
            on_done(outcome)
        return outcome

    return list(await asyncio.gather(*(one(r) for r in repositories)))
