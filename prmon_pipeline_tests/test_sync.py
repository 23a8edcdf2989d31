"""The sync engine end to end on a real PostgreSQL, GitHub played by fakehub (ASGI transport).

Convergence after world evolution, state history, faults that must leave data and cursors as they
were (and be recorded), and concurrent loads.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from unittest.mock import patch

import httpx
import psycopg
import pytest

from prmon_pipeline import sync
from prmon_pipeline.core.errors import PrmonError
from prmon_pipeline.core.models import ApiMode, SyncCursors
from prmon_pipeline.fakehub import FaultSpec, HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import (
    SyncError,
    SyncOptions,
    SyncResult,
    sync_repositories,
    sync_repository,
)
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.cursors import read_cursors
from prmon_pipeline.warehouse.load import load_rows
from prmon_pipeline.warehouse.repositories import add_repository, get_repository
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches, warehouse_tables

EXACT = SyncOptions(check_runs_lookback=None, refresh_open_checks=True)


@pytest.fixture
def warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_sync")


@pytest.fixture
def world() -> World:
    return World(WorldConfig(seed=11, repositories=2, prs_per_repository=60, check_runs_per_sha=5))


def _register(url: str, world: World) -> None:
    with connect(url, autocommit=True) as conn:
        for name in world.repository_names():
            add_repository(conn, name)


def _client(world: World, hub: HubConfig | None = None) -> tuple[GitHubClient, object]:
    app = create_app(world, hub or HubConfig())
    config = GitHubConfig(api_url="http://fakehub.test", max_retries=2, backoff_base=0.0)
    return GitHubClient(config, transport=httpx.ASGITransport(app=app), sleep=_no_sleep), app


async def _no_sleep(_: float) -> None:
    return None


def _sync(
    url: str, world: World, client: GitHubClient, name: str, options: SyncOptions = EXACT
) -> SyncResult:
    return asyncio.run(
        sync_repository(
            name, database_url=url, client=client, options=options, now=lambda: world.now
        )
    )


def _history(url: str, name: str) -> dict[int, list[tuple[str | None, str]]]:
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT p.number, h.from_state, h.to_state FROM prmon.pr_state_history h"
            " JOIN prmon.pull_requests p ON p.id = h.pull_request_id"
            " JOIN prmon.repositories r ON r.id = p.repository_id"
            " WHERE r.full_name = %s ORDER BY h.id",
            (name,),
        ).fetchall()
    history: dict[int, list[tuple[str | None, str]]] = {}
    for number, before, after in rows:
        history.setdefault(int(str(number)), []).append((before, after))  # type: ignore[arg-type]
    return history


def _states(world: World, name: str) -> dict[int, str]:
    states = {}
    for pr in world.pull_requests(name):
        merged = pr["merged_at"] is not None
        states[pr["number"]] = "merged" if merged else pr["state"]
    return states


@pytest.mark.parametrize("steps", [(600, 3600, 7200, 60, 86400)])
def test_warehouse_converges_to_ground_truth_and_history_has_every_seen_change(
    warehouse: str, world: World, steps: tuple[int, ...]
) -> None:
    _register(warehouse, world)
    client, _ = _client(world)
    observed: dict[str, list[dict[int, str]]] = {name: [] for name in world.repository_names()}
    for step in (0, *steps):
        world.advance(step)
        for name in world.repository_names():
            _sync(warehouse, world, client, name)
            observed[name].append(_states(world, name))
            assert_warehouse_matches(warehouse, world, name)
    for name, snapshots in observed.items():
        expected: dict[int, list[tuple[str | None, str]]] = {}
        for states in snapshots:
            for number, state in states.items():
                seen = expected.setdefault(number, [])
                last = seen[-1][1] if seen else None
                if state != last:
                    seen.append((last, state))
        assert _history(warehouse, name) == expected


def test_an_unchanged_repository_costs_no_rate_limit(warehouse: str, world: World) -> None:
    _register(warehouse, world)
    client, app = _client(world)
    name = world.repository_names()[0]
    _sync(warehouse, world, client, name)
    hub = app.state.hub  # type: ignore[attr-defined]
    before = hub.rate_limit_remaining()
    steady = _sync(warehouse, world, client, name)
    assert hub.rate_limit_remaining() == before
    assert steady.discovery.stats.cost.requests == steady.discovery.stats.cost.not_modified
    assert (
        steady.figures.counts.prs_new,
        steady.figures.counts.prs_updated,
        steady.figures.counts.check_runs_new,
    ) == (0, 0, 0)


def test_check_run_only_changes_are_picked_up(warehouse: str, world: World) -> None:
    _register(warehouse, world)
    client, _ = _client(world)
    name = world.repository_names()[0]
    rest = replace(EXACT, api="rest")
    _sync(warehouse, world, client, name, rest)
    open_with_runs = [
        pr["number"]
        for pr in world.pull_requests(name)
        if pr["state"] == "open"
        and any(run["status"] == "completed" for run in world.check_runs(name, pr["head"]["sha"]))
    ]
    # Re-runs on open PRs are polled (free 304s when nothing moved); closed PRs whose runs all
    # completed are not polled again, by design, to protect the rate limit. REST: a re-run in
    # the same second as the last read is seen (GraphQL's: test_sync_graphql).
    sha = world.touch_check_runs_only(name, open_with_runs[0])
    result = _sync(warehouse, world, client, name, rest)
    assert result.discovery.pull_requests.num_rows == 0
    assert result.figures.counts.check_runs_new >= 1
    assert sha in result.discovery.check_runs.column("head_sha").to_pylist()
    assert_warehouse_matches(warehouse, world, name)


def _cursors(url: str, name: str) -> object:
    with connect(url, autocommit=True) as conn:
        return read_cursors(conn, get_repository(conn, name).id)


def _failures(url: str, name: str) -> tuple[int, str | None, int]:
    with connect(url, autocommit=True) as conn:
        repository = get_repository(conn, name)
        failed = conn.execute(
            "SELECT count(*) FROM prmon.sync_runs WHERE repository_id = %s AND status = 'failed'",
            (repository.id,),
        ).fetchone()
    assert failed is not None
    return repository.failure_count, repository.last_error, int(str(failed[0]))


@pytest.mark.parametrize(("api", "route"), [("rest", "check_runs"), ("graphql", "graphql")])
def test_github_failure_half_way_changes_nothing_and_is_recorded(
    warehouse: str, world: World, api: ApiMode, route: str
) -> None:
    _register(warehouse, world)
    client, app = _client(world)
    name = world.repository_names()[0]
    options = replace(EXACT, api=api)
    _sync(warehouse, world, client, name, options)
    world.advance(7200)
    prs_before, runs_before = warehouse_tables(warehouse, name)
    cursors_before = _cursors(warehouse, name)
    app.state.hub.faults.add(FaultSpec(route=route, kind="502", rate=1.0))  # type: ignore[attr-defined]
    with pytest.raises(SyncError, match=rf"^{name}: discovery failed: "):
        _sync(warehouse, world, client, name, options)
    prs_after, runs_after = warehouse_tables(warehouse, name)
    assert prs_after.equals(prs_before) and runs_after.equals(runs_before)
    assert _cursors(warehouse, name) == cursors_before
    count, error, failed_runs = _failures(warehouse, name)
    assert (count, failed_runs) == (1, 1) and error and "discovery failed" in error
    app.state.hub.faults.clear()  # type: ignore[attr-defined]
    _sync(warehouse, world, client, name, options)
    assert_warehouse_matches(warehouse, world, name)
    assert _failures(warehouse, name)[0] == 0


def test_constraint_violation_rolls_back_and_next_sync_converges(
    warehouse: str, world: World
) -> None:
    _register(warehouse, world)
    client, _ = _client(world)
    name = world.repository_names()[0]
    with connect(warehouse, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE prmon.pull_requests ADD CONSTRAINT test_no_open"
            " CHECK (state <> 'open') NOT VALID"
        )
    with pytest.raises(SyncError, match=rf"^{name}: load failed: .*test_no_open"):
        _sync(warehouse, world, client, name)
    prs, runs = warehouse_tables(warehouse, name)
    assert prs.height == 0 and runs.height == 0
    assert _cursors(warehouse, name) == SyncCursors()
    with connect(warehouse, autocommit=True) as conn:
        conn.execute("ALTER TABLE prmon.pull_requests DROP CONSTRAINT test_no_open")
    _sync(warehouse, world, client, name)
    assert_warehouse_matches(warehouse, world, name)


def test_statement_timeout_rolls_back_and_is_recorded(warehouse: str, world: World) -> None:
    _register(warehouse, world)
    client, _ = _client(world)
    name = world.repository_names()[0]
    separator = "&" if "?" in warehouse else "?"
    timed = f"{warehouse}{separator}options=-c%20statement_timeout%3D300"
    locker = psycopg.connect(warehouse)
    locker.execute("LOCK TABLE prmon.pull_requests IN SHARE MODE")  # MERGE must wait
    try:
        with pytest.raises(SyncError, match="statement timeout"):
            _sync(
                timed,
                world,
                client,
                name,
                SyncOptions(check_runs_lookback=None, refresh_open_checks=True, load_attempts=1),
            )
    finally:
        locker.rollback()
        locker.close()
    assert warehouse_tables(warehouse, name)[0].height == 0
    assert _failures(warehouse, name)[2] == 1
    _sync(warehouse, world, client, name)
    assert_warehouse_matches(warehouse, world, name)


def _terminate_if_copying_into_staging(url: str, copy: psycopg.Copy, killed: list[int]) -> None:
    """Terminate ``copy``'s backend when it is COPYing into a staging table; wait until it is gone.

    Called from inside ``Copy.write``, so the COPY is in flight by construction: no polling race.
    """
    pid = copy.connection.info.backend_pid
    with psycopg.connect(url, autocommit=True) as admin:
        copying = admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND query LIKE 'COPY \"stage_%%'",
            (pid,),
        ).fetchone()
        if copying is None:
            return
        ended = admin.execute("SELECT pg_terminate_backend(%s, 60000)", (pid,)).fetchone()
        assert ended == (True,), f"backend {pid} still alive 60 s after pg_terminate_backend"
        killed.append(pid)


@contextmanager
def _backend_terminated_mid_copy(url: str) -> Iterator[list[int]]:
    """Terminate the first backend that COPYs into a staging table; yields the pids killed."""
    killed: list[int] = []
    original_write = psycopg.Copy.write

    def write(copy: psycopg.Copy, buffer: Any) -> None:
        original_write(copy, buffer)
        if not killed:
            _terminate_if_copying_into_staging(url, copy, killed)

    with patch.object(psycopg.Copy, "write", write):
        yield killed


def _copy_heavy_world(warehouse: str) -> tuple[World, GitHubClient, str]:
    world = World(WorldConfig(seed=3, repositories=1, prs_per_repository=400, check_runs_per_sha=8))
    _register(warehouse, world)
    client, _ = _client(world)
    return world, client, world.repository_names()[0]


def test_backend_terminated_mid_copy_is_retried_whole(warehouse: str) -> None:
    world, client, name = _copy_heavy_world(warehouse)
    with _backend_terminated_mid_copy(warehouse) as killed:
        result = _sync(warehouse, world, client, name)
    assert len(killed) == 1
    assert result.figures.counts.prs_new == len(world.pull_requests(name))
    assert_warehouse_matches(warehouse, world, name)


def test_backend_terminated_without_retries_leaves_nothing(warehouse: str) -> None:
    world, client, name = _copy_heavy_world(warehouse)
    once = SyncOptions(check_runs_lookback=None, refresh_open_checks=True, load_attempts=1)
    with (
        _backend_terminated_mid_copy(warehouse) as killed,
        pytest.raises(SyncError, match=rf"^{name}: load failed"),
    ):
        _sync(warehouse, world, client, name, once)
    assert len(killed) == 1
    assert warehouse_tables(warehouse, name)[0].height == 0
    assert _cursors(warehouse, name) == SyncCursors()
    assert _failures(warehouse, name)[0] == 1
    _sync(warehouse, world, client, name)
    assert_warehouse_matches(warehouse, world, name)


def test_two_syncs_of_one_repository_at_once_serialise(warehouse: str, world: World) -> None:
    _register(warehouse, world)
    name = world.repository_names()[0]
    outcomes: list[object] = []

    def run() -> None:
        client, _ = _client(world)
        try:
            outcomes.append(_sync(warehouse, world, client, name))
        except PrmonError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(o, SyncResult) for o in outcomes), outcomes
    news = sorted(o.figures.counts.prs_new for o in outcomes if isinstance(o, SyncResult))
    assert news == [0, len(world.pull_requests(name))]
    assert_warehouse_matches(warehouse, world, name)


def test_two_repositories_sync_in_parallel(warehouse: str, world: World) -> None:
    _register(warehouse, world)
    client, _ = _client(world)
    outcomes = asyncio.run(
        sync_repositories(
            world.repository_names(),
            database_url=warehouse,
            client=client,
            options=EXACT,
            now=lambda: world.now,
        )
    )
    assert all(o.ok for o in outcomes)
    for name in world.repository_names():
        assert_warehouse_matches(warehouse, world, name)


def test_dry_run_writes_only_its_audit_row(warehouse: str, world: World) -> None:
    _register(warehouse, world)
    client, _ = _client(world)
    name = world.repository_names()[0]
    result = _sync(warehouse, world, client, name, SyncOptions(dry_run=True))
    assert result.figures.counts.prs_new == len(world.pull_requests(name))
    assert warehouse_tables(warehouse, name)[0].height == 0
    with connect(warehouse, autocommit=True) as conn:
        rows = conn.execute("SELECT dry_run, status, prs_new FROM prmon.sync_runs").fetchall()
    assert rows == [(True, "succeeded", len(world.pull_requests(name)))]


def test_single_pr_mode_touches_one_pr(warehouse: str, world: World) -> None:
    _register(warehouse, world)
    client, _ = _client(world)
    name = world.repository_names()[0]
    number = world.pull_requests(name)[-1]["number"]
    result = _sync(warehouse, world, client, name, SyncOptions(mode="single", pr_number=number))
    prs, _ = warehouse_tables(warehouse, name)
    assert result.figures.counts.prs_new == 1 and prs["number"].to_list() == [number]


def test_full_reconciliation_soft_deletes_vanished_prs(warehouse: str, world: World) -> None:
    _register(warehouse, world)
    client, _ = _client(world)
    name = world.repository_names()[0]
    _sync(warehouse, world, client, name)
    gone = world.pull_requests(name)[3]["number"]
    world.delete_pull_request(name, gone)
    incremental = _sync(warehouse, world, client, name)
    assert incremental.figures.counts.prs_deleted == 0  # an incremental walk cannot see a deletion
    full = _sync(
        warehouse,
        world,
        client,
        name,
        SyncOptions(mode="full", check_runs_lookback=None, refresh_open_checks=True),
    )
    assert full.figures.counts.prs_deleted == 1
    assert_warehouse_matches(warehouse, world, name)
    with connect(warehouse, autocommit=True) as conn:
        row = conn.execute(
            "SELECT deleted_at IS NOT NULL FROM prmon.pull_requests WHERE number = %s"
            " AND repository_id = %s",
            (gone, get_repository(conn, name).id),
        ).fetchone()
    assert row == (True,)


def test_loading_process_killed_mid_transaction_leaves_nothing(
    warehouse: str, world: World
) -> None:
    """SIGKILL the CLI while its load waits inside the transaction: nothing is committed."""
    _register(warehouse, world)
    name = world.repository_names()[0]
    blocker = psycopg.connect(warehouse)
    blocker.execute("LOCK TABLE prmon.check_runs IN SHARE MODE")  # the MERGE into it must wait
    with serve(create_app(world, HubConfig())) as api_url:
        env = {**os.environ, "PRMON_DATABASE_URL": warehouse, "PRMON_GITHUB_API_URL": api_url}
        child = subprocess.Popen(
            [sys.executable, "-m", "prmon_pipeline.cli", "sync", name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not _load_is_waiting(warehouse):
                assert child.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            blocker.rollback()
            blocker.close()
    deadline = time.monotonic() + 30  # the orphaned backend rolls back once it can run on
    while _load_is_waiting(warehouse) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert warehouse_tables(warehouse, name)[0].height == 0
    assert _cursors(warehouse, name) == SyncCursors()
    client, _ = _client(world)
    _sync(warehouse, world, client, name)
    assert_warehouse_matches(warehouse, world, name)


def _load_is_waiting(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'prmon' AND wait_event_type = 'Lock'"
        ).fetchone()
    return row is not None and int(str(row[0])) > 0


class _FailingPulls(httpx.AsyncBaseTransport):
    """fakehub, except that one page of the PR list always answers 500."""

    def __init__(self, inner: httpx.AsyncBaseTransport, page: int) -> None:
        self.inner, self.page = inner, page

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/pulls") and request.url.params.get("page") == str(self.page):
            return httpx.Response(500, json={"message": "Server Error"})
        return await self.inner.handle_async_request(request)


def _sliced_client(world: World, failing_page: int | None = None) -> GitHubClient:
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(world, HubConfig()))
    if failing_page is not None:
        transport = _FailingPulls(transport, failing_page)
    config = GitHubConfig(api_url="http://fakehub.test", max_retries=1, backoff_base=0.0)
    return GitHubClient(config, transport=transport, sleep=_no_sleep)


SLICED = SyncOptions(check_runs_lookback=None, refresh_open_checks=True, slice_pull_requests=100)


def _audit_rows(url: str) -> list[tuple[object, ...]]:
    with connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT id, status, prs_new, check_runs_new, state_changes FROM prmon.sync_runs"
        ).fetchall()


def test_a_long_walk_is_stored_slice_by_slice_in_one_transaction(warehouse: str) -> None:
    world = World(WorldConfig(seed=5, repositories=1, prs_per_repository=250, check_runs_per_sha=2))
    _register(warehouse, world)
    (name,) = world.repository_names()
    result = _sync(warehouse, world, _sliced_client(world), name, SLICED)
    assert_warehouse_matches(warehouse, world, name)
    assert result.discovery.pull_requests.num_rows < 250  # the last slice only
    assert result.figures.counts.prs_new == 250
    assert result.discovery.stats.pull_requests == 250
    ((run_id, status, prs_new, runs_new, state_changes),) = _audit_rows(warehouse)
    assert (status, prs_new, state_changes) == ("succeeded", 250, 250)
    assert runs_new == result.figures.counts.check_runs_new > 0
    with connect(warehouse, autocommit=True) as conn:
        linked = conn.execute(
            "SELECT count(*) FROM prmon.pr_state_history WHERE sync_run_id = %s", (run_id,)
        ).fetchone()
        assert linked == (250,)
        repository = get_repository(conn, name)
        cursors = read_cursors(conn, repository.id)
    assert cursors.pulls_watermark is not None
    heads = {pr["head"]["sha"] for pr in world.pull_requests(name)}
    assert heads <= set(cursors.check_run_etags)  # every slice's SHAs, not only the last's
    world.advance(3600)
    again = _sync(warehouse, world, _sliced_client(world), name, SLICED)
    assert_warehouse_matches(warehouse, world, name)
    assert again.figures.counts.prs_new + again.figures.counts.prs_updated < 250


def test_a_walk_failing_after_stored_slices_leaves_nothing_but_the_failure(
    warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(WorldConfig(seed=5, repositories=1, prs_per_repository=350, check_runs_per_sha=2))
    _register(warehouse, world)
    (name,) = world.repository_names()
    slices: list[int] = []

    def counting_load_rows(conn: Any, load: Any, **tables: Any) -> None:
        slices.append(tables["pull_requests"].num_rows)
        load_rows(conn, load, **tables)

    monkeypatch.setattr(sync.sliced, "load_rows", counting_load_rows)
    with pytest.raises(SyncError, match="discovery failed"):
        _sync(warehouse, world, _sliced_client(world, failing_page=4), name, SLICED)
    assert slices == [100, 100, 100]  # three slices were written before page 4 failed
    with connect(warehouse, autocommit=True) as conn:
        stored = conn.execute("SELECT count(*) FROM prmon.pull_requests").fetchone()
        runs = conn.execute("SELECT count(*) FROM prmon.check_runs").fetchone()
        cursors = read_cursors(conn, get_repository(conn, name).id)
    assert stored == (0,) and runs == (0,)
    assert cursors == SyncCursors()
    assert [row[1] for row in _audit_rows(warehouse)] == ["failed"]
    _sync(warehouse, world, _sliced_client(world), name, SLICED)
    assert_warehouse_matches(warehouse, world, name)


def test_a_slice_failing_to_load_fails_the_load_and_rolls_back_the_slices_before_it(
    warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(WorldConfig(seed=5, repositories=1, prs_per_repository=350, check_runs_per_sha=2))
    _register(warehouse, world)
    (name,) = world.repository_names()
    calls: list[int] = []

    def second_slice_fails(conn: Any, load: Any, **tables: Any) -> None:
        calls.append(tables["pull_requests"].num_rows)
        if len(calls) == 2:
            raise psycopg.errors.CheckViolation("refused by the test")
        load_rows(conn, load, **tables)

    monkeypatch.setattr(sync.sliced, "load_rows", second_slice_fails)
    with pytest.raises(SyncError, match="load failed: refused by the test"):
        _sync(warehouse, world, _sliced_client(world), name, SLICED)
    assert calls == [100, 100]
    with connect(warehouse, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM prmon.pull_requests").fetchone() == (0,)
    assert [row[1] for row in _audit_rows(warehouse)] == ["failed"]
