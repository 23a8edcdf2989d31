"""Applying webhook deliveries: once (``prmon sync --events``) or continuously
(``prmon webhooks serve --apply``), repositories in parallel through the runner's fan-out.

Each repository is applied by ``sync.event_repository`` (load transactions, then targeted polls
only where the payloads could not settle a change). A failure of the repository's own (the
warehouse, a bug) is recorded as ``sync.runner`` records it and does not stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import psycopg

from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.core.webhook_events import PARK_WINDOW
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import Repository
from prmon_pipeline.warehouse.webhook_pending import (
    CHANNEL,
    ignore_unregistered,
    pending_repositories,
)

from .event_repository import apply_repository
from .fanout import for_each_repository
from .options import REPOSITORIES_AT_ONCE, SyncOptions
from .results import RepositoryFigures, SyncError, SyncOutcome
from .stages import Now, utc_now

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
"""The continuous applier looks for pending rows at least this often (a NOTIFY may be missed)."""
MAX_BACKOFF_SECONDS = 300.0
"""A repository whose apply failed is retried after 1, 2, 4 … seconds, at most this long."""


@dataclass(frozen=True)
class EventRound:
    """One pass over the pending deliveries: each repository's outcome, and the deliveries of
    no registered repository that were marked ignored."""

    outcomes: list[SyncOutcome]
    unregistered: int = 0


async def apply_pending_deliveries(
    database_url: str,
    client: GitHubClient,
    options: SyncOptions | None = None,
    keys: Iterable[str] | None = None,
    *,
    concurrency: int = REPOSITORIES_AT_ONCE,
    on_done: Callable[[SyncOutcome], None] | None = None,
    now: Now = utc_now,
    fresh_only: bool = False,
    skip: frozenset[str] = frozenset(),
) -> EventRound:
    """Apply every pending delivery (of ``keys`` only, when given) and return the outcomes.

    ``fresh_only`` (the continuous applier): parked check runs only once they are due. ``skip``
    names repositories (lower case) to leave for a later round.
    """
    options = replace(options or SyncOptions(), mode="events")
    names = None if keys is None else [str(parse_repo_key(k)) for k in keys]
    unregistered, repositories = await asyncio.to_thread(
        _pending, database_url, names, now, fresh_only=fresh_only
    )
    by_name = {r.full_name: r for r in repositories if r.full_name.lower() not in skip}

    async def work(name: str) -> RepositoryFigures | None:
        return await apply_repository(database_url, client, by_name[name], options, now=now)

    def done(name: str, value: RepositoryFigures | None, error: Exception | None) -> None:
        if on_done is not None and (value is not None or error is not None):
            on_done(_outcome(name, value, error))

    fanout = await for_each_repository(list(by_name), work, concurrency, done)
    outcomes = [
        _outcome(name, fanout.values.get(name), fanout.errors.get(name))
        for name in by_name
        if fanout.values.get(name) is not None or name in fanout.errors
    ]
    return EventRound(outcomes, unregistered)


def repositories_with_deliveries(database_url: str, now: Now = utc_now) -> list[str]:
    """Registered repositories with deliveries to apply now (fresh ones, or parked check runs
    that are due), by name: what a sensor launches one events run for. Blocking.

    Deliveries of no registered repository are marked ignored on the way, as a round does.
    """
    _, repositories = _pending(database_url, None, now, fresh_only=True)
    return [r.full_name for r in repositories]


def _pending(
    database_url: str, names: list[str] | None, now: Now, *, fresh_only: bool
) -> tuple[int, list[Repository]]:
    at = now()
    with connect(database_url, autocommit=True) as conn:
        unregistered = ignore_unregistered(conn, at)
        parked_before = at - PARK_WINDOW if fresh_only else at
        return unregistered, pending_repositories(conn, names=names, parked_before=parked_before)


def _outcome(name: str, figures: RepositoryFigures | None, error: Exception | None) -> SyncOutcome:
    if error is None:
        return SyncOutcome(name, figures)
    if isinstance(error, SyncError):
        return SyncOutcome(name, error=error)
    return SyncOutcome(name, error=SyncError(name, "events", error, recorded=False))


# --- continuously -------------------------------------------------------------------------------


async def apply_continuously(
    database_url: str,
    client: GitHubClient,
    options: SyncOptions | None,
    stop: asyncio.Event,
    on_result: Callable[[SyncOutcome], None] | None = None,
) -> None:
    """Apply deliveries as they arrive until ``stop`` is set.

    Wakes on ``NOTIFY prmon_webhook_deliveries`` (the receiver's, after it commits new rows) and
    at least every ``POLL_SECONDS`` in case one was missed or the listening connection is down.
    A round that fails (the warehouse is away) is logged and tried again; a repository whose
    apply failed waits 1, 2, 4 … seconds (at most ``MAX_BACKOFF_SECONDS``) before its next try,
    so a delivery that keeps failing cannot fill ``sync_runs`` at one row a second.
    """
    backoff = _Backoff()
    listener: psycopg.AsyncConnection[tuple[object, ...]] | None = None
    try:
        while not stop.is_set():
            listener = await _listening(database_url, listener)
            try:
                round_ = await apply_pending_deliveries(
                    database_url, client, options, fresh_only=True, skip=backoff.waiting()
                )
            except Exception:  # the warehouse may be away: the next round tries again
                log.exception("applying webhook deliveries failed; trying again")
            else:
                for outcome in round_.outcomes:
                    backoff.note(outcome)
                    if on_result is not None:
                        on_result(outcome)
            listener = await _wait(listener, stop)
    finally:
        if listener is not None:
            await listener.close()


@dataclass
class _Backoff:
    """Per repository (lower-case name): no retry before ``until``; the delay doubles."""

    until: dict[str, tuple[float, float]] = field(default_factory=dict)

    def waiting(self) -> frozenset[str]:
        clock = time.monotonic()
        return frozenset(name for name, (until, _) in self.until.items() if until > clock)

    def note(self, outcome: SyncOutcome) -> None:
        name = outcome.repository.lower()
        if outcome.ok:
            self.until.pop(name, None)
            return
        delay = min(MAX_BACKOFF_SECONDS, 2 * self.until.get(name, (0.0, 0.5))[1])
        self.until[name] = (time.monotonic() + delay, delay)


async def _listening(
    database_url: str, listener: psycopg.AsyncConnection[tuple[object, ...]] | None
) -> psycopg.AsyncConnection[tuple[object, ...]] | None:
    """The LISTENing connection, (re)opened when needed; None while the warehouse is away."""
    if listener is not None and not listener.closed:
        return listener
    try:
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        await conn.execute(f"LISTEN {CHANNEL}")
    except psycopg.Error as error:
        log.warning("cannot LISTEN for webhook deliveries (%s); polling every second", error)
        return None
    return conn


async def _wait(
    listener: psycopg.AsyncConnection[tuple[object, ...]] | None, stop: asyncio.Event
) -> psycopg.AsyncConnection[tuple[object, ...]] | None:
    """Until a notification, ``POLL_SECONDS`` or ``stop``; returns the listener still usable."""
    if listener is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_SECONDS)
        return None
    try:
        async for _ in listener.notifies(timeout=POLL_SECONDS, stop_after=1):
            pass
    except psycopg.Error as error:
        log.warning("the LISTEN connection failed (%s); reconnecting", error)
        await listener.close()
        return None
    return listener
