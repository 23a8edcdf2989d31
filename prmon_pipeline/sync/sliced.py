"""One load transaction fed slice by slice while discovery walks a long PR list."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import psycopg
import pyarrow as pa

from prmon_pipeline.core.changeset import CHANGESET_COUNT_NAMES, Changeset, compute_changeset
from prmon_pipeline.github.discovery import DiscoveryResult, DiscoverySlice
from prmon_pipeline.warehouse.audit import LoadResult
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.load import (
    OpenLoad,
    begin_load,
    finish_load,
    load_rows,
    refresh_grown_statistics,
)
from prmon_pipeline.warehouse.repositories import rename_repository
from prmon_pipeline.warehouse.snapshot import read_snapshot

from .stages import RepositoryState, audit_of, touched_numbers

if TYPE_CHECKING:
    from .runner import RepositoryRun

Conn = psycopg.Connection[tuple[object, ...]]


class StageFailedError(Exception):
    """An error raised inside one stage that belongs to another (a slice stored during the
    discovery walk failed: that is a load failure)."""

    def __init__(self, stage: str, cause: Exception) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.cause = cause


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

    def __init__(self, run: RepositoryRun, state: RepositoryState) -> None:
        self._run, self._state = run, state
        self._conn: Conn | None = None
        self._load: OpenLoad | None = None
        self._pending: asyncio.Task[Changeset] | None = None
        self._counts = dict.fromkeys(CHANGESET_COUNT_NAMES, 0)

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
            except Exception as exc:
                raise StageFailedError("load", exc) from exc

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        durations = self._run.durations
        start = time.perf_counter()
        try:
            yield
        finally:
            durations[stage] = durations.get(stage, 0.0) + time.perf_counter() - start

    def _open(self) -> tuple[Conn, OpenLoad]:
        if self._conn is None or self._load is None:
            run = self._run
            self._conn = connect(run.database_url)  # not autocommit: one transaction until COMMIT
            audit = audit_of(None, run.options, run.began)
            self._load = begin_load(self._conn, self._state.repository.id, audit, run.now())
        return self._conn, self._load

    def _store(self, pull_requests: pa.Table, check_runs: pa.Table) -> Changeset:
        conn, load = self._open()
        with self._timed("snapshot"):
            # The full comparison, not digest-first (``stages.read_discovery_snapshot``): slices
            # feed a first sync of a large repository, whose rows are new, so digests compared
            # first would find nothing to skip (and the load digests the rows it writes anyway).
            numbers = touched_numbers(pull_requests, check_runs)
            snapshot_prs, snapshot_runs = read_snapshot(conn, load.repository_id, numbers)
        with self._timed("changeset"):
            changeset = compute_changeset(
                pull_requests, snapshot_prs, check_runs, snapshot_runs, "incremental"
            )
        with self._timed("load"):
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
        run = self._run
        with self._timed("load"):
            if discovery.renamed_to:
                rename_repository(conn, load.repository_id, discovery.renamed_to)
            audit = audit_of(discovery, run.options, run.began, self._counts["prs_unchanged"])
            result = finish_load(
                conn,
                load,
                deleted_numbers=[],
                cursors=discovery.cursors,
                audit=audit,
                previous_cursors=self._state.cursors,
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
