"""Each asset step's work for one repository, and the bounded fan-out over a run's repositories.

A step receives one repository (a run per partition) or many (a single-run backfill). Every
repository goes through the same ``sync`` stage functions as ``prmon sync``; a failure is
recorded in the warehouse (``sync.record_sync_failure``: ``sync_runs`` row, ``failure_count``,
``last_error``) and kept per repository, so the other repositories go on. ``assets.py`` decides
what the step shows for the failures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Generic, TypeVar

import pyarrow as pa

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.discovery import DiscoveryResult
from prmon_pipeline.sync import (
    SyncContext,
    SyncError,
    SyncOptions,
    apply_changeset,
    build_changeset,
    discover,
    read_sync_context,
    record_sync_failure,
    utc_now,
)
from prmon_pipeline.warehouse.audit import LoadResult

from .discovery_receipt import attach_receipt, restore_discovery

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Fanout(Generic[T]):
    """What a step produced per repository: values, failure messages and seconds spent."""

    values: dict[str, T] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


async def for_each_repository(
    keys: Sequence[str], work: Callable[[str], Awaitable[T]], limit: int
) -> Fanout[T]:
    """Run ``work`` for every key, at most ``limit`` at once; one failure never stops the rest."""
    bound = asyncio.Semaphore(max(1, limit))
    outcome: Fanout[T] = Fanout()

    async def one(key: str) -> None:
        async with bound:
            start = time.perf_counter()
            try:
                outcome.values[key] = await work(key)
            except Exception as exc:  # every failure is reported per repository
                outcome.failures[key] = _one_line(exc)
            finally:
                outcome.seconds[key] = time.perf_counter() - start

    await asyncio.gather(*(one(key) for key in keys))
    return outcome


@dataclass(frozen=True)
class Discovered:
    """Discovery of one repository: the tables to persist (receipt attached) and the result."""

    pull_requests: pa.Table
    check_runs: pa.Table
    result: DiscoveryResult


async def discover_one(
    client: GitHubClient, database_url: str, key: str, options: SyncOptions
) -> Discovered:
    """Discovery stage for one repository (``sync.read_sync_context`` + ``sync.discover``)."""
    context = await asyncio.to_thread(read_sync_context, database_url, key)
    started_at = utc_now()
    try:
        result = await discover(client, context, options, started_at)
    except Exception as exc:
        raise await asyncio.to_thread(
            partial(
                _recorded,
                database_url,
                context,
                options=options,
                started_at=started_at,
                stage="discovery",
                cause=exc,
            )
        ) from exc
    return Discovered(attach_receipt(result, started_at), result.check_runs, result)


def changeset_one(
    database_url: str, key: str, pull_requests: pa.Table, check_runs: pa.Table, options: SyncOptions
) -> Changeset:
    """Changeset stage for one repository (``sync.build_changeset``)."""
    context = read_sync_context(database_url, key)
    discovery, started_at = restore_discovery(pull_requests, check_runs)
    try:
        return build_changeset(database_url, context, discovery, options.mode)
    except Exception as exc:
        raise _recorded(
            database_url,
            context,
            options=options,
            started_at=started_at,
            stage="changeset",
            cause=exc,
        ) from exc


def load_one(
    database_url: str,
    key: str,
    *,
    pull_requests: pa.Table,
    check_runs: pa.Table,
    changeset: Changeset,
    options: SyncOptions,
) -> LoadResult:
    """Load stage for one repository (``sync.apply_changeset``: one transaction, cursors too)."""
    context = read_sync_context(database_url, key)
    discovery, started_at = restore_discovery(pull_requests, check_runs)
    try:
        return apply_changeset(
            database_url, context, discovery, changeset, options=options, started_at=started_at
        )
    except Exception as exc:
        raise _recorded(
            database_url,
            context,
            options=options,
            started_at=started_at,
            stage="load",
            cause=exc,
            discovery=discovery,
        ) from exc


def _recorded(
    database_url: str,
    context: SyncContext,
    *,
    options: SyncOptions,
    started_at: datetime,
    stage: str,
    cause: Exception,
    discovery: DiscoveryResult | None = None,
) -> SyncError:
    """The stage's error as a :class:`SyncError`, after recording it in the warehouse."""
    error = SyncError(context.repository.full_name, stage, cause)
    try:
        record_sync_failure(
            database_url,
            context.repository,
            options=options,
            started_at=started_at,
            error=str(error),
            discovery=discovery,
        )
    except Exception:  # the warehouse may be what failed; the original error matters more
        log.exception("could not record the failure of %s", context.repository.full_name)
    return error


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
