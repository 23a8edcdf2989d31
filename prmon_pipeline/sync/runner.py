"""The stage runner: the one place that times a repository's stages, catches what fails in any
of them, records the failure and raises a :class:`SyncError` naming the stage.

Failures: any error in a stage ends the run for this repository. The load's transaction is then
rolled back whole, the failure is recorded in a short transaction of its own (``sync_runs`` row
with ``status = failed``, ``failure_count + 1``, ``last_error``) and a :class:`SyncError` naming
the repository and the stage is raised. Transient database errors (serialization failure,
deadlock, lost connection, admin shutdown) are retried inside the stages first: a load is redone
whole, so a retry is always safe. A failure that cannot be recorded (the warehouse is what
failed) is logged, and the error says so. A name that now means another GitHub repository
(:class:`RepositoryReplacedError`) is not a failure: the old rows are retired and the new
repository is discovered cold in the same run, with nothing recorded as failed.

``prmon sync`` runs every stage of a repository in one :func:`sync_repository` call; the Dagster
steps run :func:`discover_step`, :func:`changeset_step` and :func:`load_step` per repository,
with the step's state persisted in between, through the same :class:`RepositoryRun`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.core.costs import ApiCost
from prmon_pipeline.core.errors import BudgetReservedError, RepositoryReplacedError
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.discovery import DiscoveryResult
from prmon_pipeline.github.graphql import graphql_reader_for
from prmon_pipeline.warehouse.audit import LoadResult, record_failure
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import Repository, get_repository

from . import stages
from .fanout import for_each_repository
from .options import REPOSITORIES_AT_ONCE, SyncOptions
from .path_comparison import PATH_COMPARISON_STAGE, compare_paths
from .results import RepositoryFigures, SyncError, SyncOutcome, SyncResult
from .sliced import SlicedLoad, StageFailedError
from .stages import Now, RepositoryState, utc_now

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class RepositoryRun:
    """One repository's sync under way: its options, start, stage seconds and what is known.

    ``repository`` is set once the registry row is read (a failure before that is recorded by
    looking the name up again); ``cost`` once discovery answered, so a failed run's audit row
    still says what it spent.
    """

    database_url: str
    key: str
    options: SyncOptions
    now: Now = utc_now
    started_at: datetime | None = None
    durations: dict[str, float] = field(default_factory=dict)
    repository: Repository | None = None
    cost: ApiCost | None = None
    sliced_load: SlicedLoad | None = None
    replaced: str | None = None
    """Why the name's earlier repository was retired in this run (None when it was not)."""

    def __post_init__(self) -> None:
        if self.started_at is None:
            self.started_at = self.now()

    @property
    def began(self) -> datetime:
        assert self.started_at is not None
        return self.started_at

    @property
    def name(self) -> str:
        return self.repository.full_name if self.repository else self.key

    async def stage(self, name: str, work: Awaitable[T]) -> T:
        """Await one stage, timed under ``name``; any failure is recorded and raised typed."""
        start = time.perf_counter()
        try:
            return await work
        except (SyncError, RepositoryReplacedError):
            raise  # a replaced repository is not a failure: _discover_identified handles it
        except StageFailedError as failure:
            raise await self.fail(failure.stage, failure.cause) from failure.cause
        except Exception as exc:
            raise await self.fail(name, exc) from exc
        finally:
            self.durations[name] = self.durations.get(name, 0.0) + time.perf_counter() - start

    async def blocking(self, name: str, work: Callable[[], T]) -> T:
        """A blocking stage (database, Polars) in a worker thread."""
        return await self.stage(name, asyncio.to_thread(work))

    async def read_state(self) -> RepositoryState:
        state = await self.blocking(
            "read state", lambda: stages.read_state(self.database_url, self.key)
        )
        self.repository = state.repository
        return state

    async def fail(self, stage: str, cause: BaseException) -> SyncError:
        """Record the failure (in its own transaction) and return the error to raise."""
        recorded = await asyncio.to_thread(self._record, stage, cause)
        return SyncError(self.name, stage, cause, recorded=recorded)

    def _record(self, stage: str, cause: BaseException) -> bool:
        message = str(SyncError(self.name, stage, cause))
        audit = stages.audit_of(None, self.options, self.began)
        if self.cost is not None:
            audit = replace(audit, cost=self.cost)
        deferred = isinstance(cause, BudgetReservedError)
        if isinstance(cause, BudgetReservedError) and self.cost is None:
            audit = replace(audit, cost=stages.budget_reading(cause))
        try:
            with connect(self.database_url, autocommit=True) as conn:
                repository = self.repository or get_repository(conn, parse_repo_key(self.key))
                record_failure(conn, repository.id, audit, message, self.now(), deferred=deferred)
        except Exception:  # the warehouse may be what failed; the original error matters more
            log.exception("could not record the failure of %s", self.name)
            return False
        return True

    def figures(self, discovery: DiscoveryResult, load: LoadResult) -> RepositoryFigures:
        self.durations["parse"] = discovery.stats.cost.parse_seconds  # a part of discovery
        return RepositoryFigures(
            repository=self.name,
            mode=self.options.mode,
            dry_run=self.options.dry_run,
            sync_run_id=load.sync_run_id,
            prs_seen=discovery.pull_requests.num_rows,
            check_runs_seen=discovery.check_runs.num_rows,
            counts=load.counts,
            cost=discovery.stats.cost,
            seconds=dict(self.durations),
            renamed_to=discovery.renamed_to,
            replaced=self.replaced,
            item_failures=tuple(f"{f.kind} {f.key}: {f.message}" for f in discovery.item_failures),
        )


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
    run = RepositoryRun(database_url, repository, options or SyncOptions(), now)
    with syncing(client, run.options):
        with announced(client, run.options, run.key):
            state = await run.read_state()
            discovery, state = await _discover_identified(
                run, client, state, slices=run.options.sliced
            )
        sliced = run.sliced_load
        if sliced is not None and sliced.started:
            changeset, load = await run.stage("load", _aborting(sliced, sliced.finish(discovery)))
        else:
            changeset = await _changeset(run, state, discovery)
            load = await _load(run, state, discovery, changeset)
    return SyncResult(run.figures(discovery, load), changeset, discovery)


def announced(client: GitHubClient, options: SyncOptions, key: str) -> AbstractContextManager[None]:
    """From its start to the end of its discovery, a repository's sync is announced to the
    client's GraphQL reader (unless check runs are read by REST only), so that the reader's
    next query waits for this repository's SHAs instead of going out once per repository:
    repositories synced at once share queries (see ``github.graphql``)."""
    if options.api == "rest":
        return nullcontext()
    return graphql_reader_for(client).walking(key)


def syncing(client: GitHubClient, options: SyncOptions) -> AbstractContextManager[None]:
    """A repository's whole sync, told to the GraphQL reader: one past its discovery (loading)
    will soon free its place for the next repository of the run (see ``coming``)."""
    if options.api == "rest":
        return nullcontext()
    return graphql_reader_for(client).syncing()


def coming(
    client: GitHubClient, options: SyncOptions | None, keys: list[str]
) -> AbstractContextManager[None]:
    """A run's repositories announced to the GraphQL reader before any starts (see
    ``GraphQLCheckReader.coming``): a group's last query waits for the next group."""
    if options is not None and options.api == "rest":
        return nullcontext()
    return graphql_reader_for(client).coming(keys)


async def _discover_identified(
    run: RepositoryRun, client: GitHubClient, state: RepositoryState, *, slices: bool
) -> tuple[DiscoveryResult, RepositoryState]:
    """Discovery, after which the registry knows the repository's GitHub id.

    When the name now resolves to another GitHub repository (deleted and re-created, another
    renamed into the name, a new simulated world), the old rows are retired and the new
    repository is discovered cold, in the same run.
    """
    try:
        discovery = await _discover(run, client, state, slices=slices)
    except RepositoryReplacedError as error:
        replaced = error
        log.warning("%s; retiring the old rows and starting cold", replaced)
        state = await run.blocking(
            "replace repository",
            lambda: stages.replace_repository_cold(
                run.database_url, state, replaced.seen_id, str(replaced), run.now()
            ),
        )
        run.repository = state.repository
        run.replaced = str(replaced)
        try:
            discovery = await _discover(run, client, state, slices=slices)
        except RepositoryReplacedError as again:  # the name moved once more, mid-run
            raise await run.fail("discovery", again) from again
    await run.blocking(
        "read state", lambda: stages.remember_github_id(run.database_url, state, discovery)
    )
    return discovery, state


async def _discover(
    run: RepositoryRun, client: GitHubClient, state: RepositoryState, *, slices: bool
) -> DiscoveryResult:
    """Discovery; with ``slices``, a long walk is stored slice by slice as it goes."""
    known = await run.blocking(
        "read index", lambda: stages.read_index(run.database_url, state.repository.id)
    )
    sliced = SlicedLoad(run, state) if slices else None
    run.sliced_load = sliced
    work = stages.discover(
        client, state, known, run.options, now=run.began, on_slice=sliced.add if sliced else None
    )
    discovery = await run.stage("discovery", _aborting(sliced, work))
    run.cost = discovery.stats.cost
    return discovery


async def _aborting(sliced: SlicedLoad | None, work: Awaitable[T]) -> T:
    """``work``, with the sliced load rolled back first when it fails (before the failure is
    recorded, so the record never waits on the open load transaction)."""
    try:
        return await work
    except BaseException:
        if sliced is not None:
            await sliced.abort()
        raise


async def _changeset(
    run: RepositoryRun, state: RepositoryState, discovery: DiscoveryResult
) -> Changeset:
    if run.options.compare_paths:
        return await _changeset_both_ways(run, state, discovery)
    snapshot = await run.blocking(
        "snapshot",
        lambda: stages.read_discovery_snapshot(run.database_url, state, discovery, run.options),
    )
    return await run.blocking("changeset", lambda: stages.diff(discovery, snapshot, run.options))


async def _changeset_both_ways(
    run: RepositoryRun, state: RepositoryState, discovery: DiscoveryResult
) -> Changeset:
    """Both comparison paths, timed apart (``sync.path_comparison``); their total under
    ``path comparison``, each stage's median under its own name."""
    compared = await run.blocking(
        PATH_COMPARISON_STAGE,
        lambda: compare_paths(run.database_url, state, discovery, run.options),
    )
    for name, seconds in compared.seconds.items():
        run.durations[name] = run.durations.get(name, 0.0) + seconds
    return compared.changeset


async def _load(
    run: RepositoryRun, state: RepositoryState, discovery: DiscoveryResult, changeset: Changeset
) -> LoadResult:
    return await run.blocking(
        "load",
        lambda: stages.store(
            run.database_url,
            state,
            discovery,
            changeset,
            run.options,
            started_at=run.began,
            now=run.now,
        ),
    )


# --- the Dagster steps: the same stages, one step at a time, persisted in between -------------


async def discover_step(
    client: GitHubClient, database_url: str, key: str, options: SyncOptions
) -> tuple[DiscoveryResult, datetime]:
    """Discovery of one repository for the ``pull_requests``/``check_runs`` step."""
    run = RepositoryRun(database_url, key, options)
    with announced(client, options, key):
        state = await run.read_state()
        # The step persists the whole discovery for the next step: never stored in slices.
        discovery, _ = await _discover_identified(run, client, state, slices=False)
    return discovery, run.began


async def changeset_step(
    database_url: str,
    key: str,
    discovery: DiscoveryResult,
    *,
    options: SyncOptions,
    started_at: datetime,
) -> Changeset:
    """The snapshot and changeset of one repository for the ``changeset`` step."""
    run = RepositoryRun(
        database_url, key, options, started_at=started_at, cost=discovery.stats.cost
    )
    state = await run.read_state()
    return await _changeset(run, state, discovery)


async def load_step(
    database_url: str,
    key: str,
    discovery: DiscoveryResult,
    changeset: Changeset,
    *,
    options: SyncOptions,
    started_at: datetime,
) -> tuple[LoadResult, float]:
    """The load of one repository for the ``warehouse_tables`` step (and its seconds)."""
    run = RepositoryRun(
        database_url, key, options, started_at=started_at, cost=discovery.stats.cost
    )
    state = await run.read_state()
    load = await _load(run, state, discovery, changeset)
    return load, run.durations["load"]


async def sync_repositories(
    repositories: list[str],
    *,
    database_url: str,
    client: GitHubClient,
    options: SyncOptions | None = None,
    concurrency: int = REPOSITORIES_AT_ONCE,
    on_done: Callable[[SyncOutcome], None] | None = None,
    now: Now = utc_now,
) -> list[SyncOutcome]:
    """Sync many repositories concurrently (at most ``concurrency`` at once).

    Each repository is isolated: one failing (its failure recorded) never stops the others.
    The GitHub client's own bound still limits concurrent requests across all of them.
    """

    async def figures(key: str) -> RepositoryFigures:
        result = await sync_repository(
            key, database_url=database_url, client=client, options=options, now=now
        )
        return result.figures  # the tables are dropped here

    def done(key: str, value: RepositoryFigures | None, error: Exception | None) -> None:
        if on_done is not None:
            on_done(_outcome(key, value, error))

    with coming(client, options, repositories):
        fanout = await for_each_repository(repositories, figures, concurrency, done)
    return [_outcome(key, fanout.values.get(key), fanout.errors.get(key)) for key in repositories]


def _outcome(key: str, figures: RepositoryFigures | None, error: Exception | None) -> SyncOutcome:
    if error is None:
        return SyncOutcome(key, figures)
    if isinstance(error, SyncError):
        return SyncOutcome(key, error=error)
    return SyncOutcome(key, error=SyncError(key, "sync", error, recorded=False))
