"""Errors of one item do not fail the repository (issue 14, bug 1), end to end on PostgreSQL.

GitHub answers 422 "No commit found for SHA" (or 404) for the check runs of a commit that a
force-push and garbage collection removed while a PR still names it. Before the fix that one
answer failed its repository on every cycle, for ever. Now the SHA's failure is recorded, the
rest is stored, the SHA is backed off, and forgotten once no PR points at it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from prmon_pipeline.core.errors import PermissionDeniedError, RepositoryReplacedError
from prmon_pipeline.core.models import CheckRunFailure, ItemFailure, SyncCursors
from prmon_pipeline.fakehub import FaultSpec, HubConfig, World, WorldConfig, create_app
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.github.discovery import discover_repository
from prmon_pipeline.sync import SyncError, SyncOptions, SyncResult, sync_repository
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.cursors import read_cursors
from prmon_pipeline.warehouse.repositories import add_repository, get_repository
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.ground_truth import warehouse_tables
from prmon_pipeline_tests.world_truth import expected_check_runs, expected_pull_requests

EXACT = SyncOptions(check_runs_lookback=None, refresh_open_checks=True, api="rest")
"""REST: the faults below answer REST's check-runs route (GraphQL's: test_sync_graphql)."""
MINUTE = 60


@pytest.fixture
def warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_items")


@pytest.fixture
def world() -> World:
    # No random PR events: the test moves the one PR that matters itself.
    config = WorldConfig(
        seed=11, repositories=1, prs_per_repository=60, check_runs_per_sha=5, events_per_hour=0.0
    )
    return World(config)


async def _no_sleep(_: float) -> None:
    return None


def _client(app: Any) -> GitHubClient:
    config = GitHubConfig(api_url="http://fakehub.test", max_retries=2, backoff_base=0.0)
    return GitHubClient(config, transport=httpx.ASGITransport(app=app), sleep=_no_sleep)


def _sync(url: str, world: World, client: GitHubClient, name: str) -> SyncResult:
    return asyncio.run(
        sync_repository(name, database_url=url, client=client, options=EXACT, now=lambda: world.now)
    )


def _victim(world: World, name: str) -> tuple[int, str]:
    """An open same-repository PR whose head SHA has check runs and is nobody else's head."""
    prs = world.pull_requests(name)
    heads = [pr["head"]["sha"] for pr in prs]
    for pr in prs:
        sha = pr["head"]["sha"]
        if (
            pr["state"] == "open"
            and pr["head"]["repo"] is not None
            and heads.count(sha) == 1
            and world.check_runs(name, sha)
        ):
            return int(pr["number"]), str(sha)
    raise AssertionError("the world has no suitable PR")


def _failures(url: str, name: str) -> dict[str, CheckRunFailure]:
    with connect(url, autocommit=True) as conn:
        return read_cursors(conn, get_repository(conn, name).id).check_run_failures


def _assert_stored_all_but(url: str, world: World, name: str, gone: str | None) -> None:
    """Every PR, and every check run except those of ``gone``, as GitHub shows them."""
    prs, runs = warehouse_tables(url, name)
    expected_prs = pl.from_arrow(expected_pull_requests(world, name, stored=True))
    expected_runs = pl.from_arrow(expected_check_runs(world, name))
    assert isinstance(expected_prs, pl.DataFrame) and isinstance(expected_runs, pl.DataFrame)
    assert_frame_equal(prs.sort("number"), expected_prs.sort("number"))
    if gone is not None:
        expected_runs = expected_runs.filter(pl.col("head_sha") != gone)
    assert_frame_equal(
        runs.sort("pr_number", "github_id"), expected_runs.sort("pr_number", "github_id")
    )


def test_one_unreachable_commit_is_recorded_backed_off_and_forgotten(
    warehouse: str, world: World
) -> None:
    name = world.repository_names()[0]
    with connect(warehouse, autocommit=True) as conn:
        add_repository(conn, name)
    number, gone = _victim(world, name)
    app = create_app(world, HubConfig())
    hub = app.state.hub
    hub.faults.add(FaultSpec(route="check_runs", kind="no_commit", ref=gone))
    client = _client(app)

    # Cycle 1: the repository succeeds, everything else is stored, the SHA's failure recorded.
    first = _sync(warehouse, world, client, name)
    assert hub.counters.faults == 1
    assert first.discovery.item_failures == (
        ItemFailure("check_runs", gone, 422, first.discovery.item_failures[0].message),
    )
    assert f"No commit found for SHA: {gone}" in first.discovery.item_failures[0].message
    assert first.discovery.stats.item_failures == 1
    _assert_stored_all_but(warehouse, world, name, gone)
    failure = _failures(warehouse, name)[gone]
    assert (failure.http_status, failure.attempts) == (422, 1)
    assert failure.first_failed_at == failure.last_failed_at == world.now
    assert "No commit found for SHA" in failure.message
    with connect(warehouse, autocommit=True) as conn:
        row = get_repository(conn, name)
        assert row.failure_count == 0 and row.last_error is None

    # Cycles within the hour: the SHA is not asked again; nothing else changes either.
    for _ in range(3):
        world.advance(10 * MINUTE)
        again = _sync(warehouse, world, client, name)
        assert again.discovery.item_failures == ()
        assert hub.counters.faults == 1
        assert _failures(warehouse, name)[gone].attempts == 1
    _assert_stored_all_but(warehouse, world, name, gone)

    # After the back-off it is tried once more, and backed off twice as long.
    world.advance(31 * MINUTE)
    due = _sync(warehouse, world, client, name)
    assert hub.counters.faults == 2
    assert len(due.discovery.item_failures) == 1
    failure = _failures(warehouse, name)[gone]
    assert failure.attempts == 2
    assert failure.last_failed_at == world.now
    assert failure.retry_after - failure.last_failed_at == timedelta(hours=2)

    # The PR's head moves: no PR points at the gone SHA, so its failure is forgotten.
    world.apply_event(name, number, "push")
    moved = _sync(warehouse, world, client, name)
    assert moved.discovery.item_failures == ()
    assert _failures(warehouse, name) == {}
    _assert_stored_all_but(warehouse, world, name, None)
    assert hub.counters.faults == 2


def test_the_sha_answers_again_and_its_failure_is_cleared(warehouse: str, world: World) -> None:
    name = world.repository_names()[0]
    with connect(warehouse, autocommit=True) as conn:
        add_repository(conn, name)
    _, gone = _victim(world, name)
    app = create_app(world, HubConfig())
    fault = app.state.hub.faults.add(FaultSpec(route="check_runs", kind="404", ref=gone))
    client = _client(app)
    first = _sync(warehouse, world, client, name)
    assert [(f.key, f.http_status) for f in first.discovery.item_failures] == [(gone, 404)]
    app.state.hub.faults.remove(fault)
    world.advance(61 * MINUTE)
    _sync(warehouse, world, client, name)
    assert _failures(warehouse, name) == {}
    _assert_stored_all_but(warehouse, world, name, None)


def test_errors_of_the_repository_still_fail_it(warehouse: str, world: World) -> None:
    name = world.repository_names()[0]
    with connect(warehouse, autocommit=True) as conn:
        add_repository(conn, name)
    app = create_app(world, HubConfig())
    app.state.hub.faults.add(FaultSpec(route="pulls", kind="404"))
    with pytest.raises(SyncError, match="404 Not Found"):
        _sync(warehouse, world, _client(app), name)
    with connect(warehouse, autocommit=True) as conn:
        assert get_repository(conn, name).failure_count == 1


def _discover(app: Any, world: World, name: str, **options: Any) -> Any:
    async def go() -> Any:
        async with _client(app) as client:
            return await discover_repository(
                client, name, SyncCursors(), {}, now=world.now, check_runs_lookback=None, **options
            )

    return asyncio.run(go())


def test_a_refusal_on_a_later_page_drops_every_row_of_that_sha(world: World) -> None:
    """A matrix build's second page answering 422: none of that SHA's rows, no ETag for it."""
    matrix = World(WorldConfig(seed=3, repositories=1, prs_per_repository=20, matrix_fraction=0.3))
    name = matrix.repository_names()[0]
    big = next(
        pr["head"]["sha"]
        for pr in matrix.pull_requests(name)
        if len(matrix.check_runs(name, pr["head"]["sha"])) > 100
    )
    app = create_app(matrix, HubConfig())
    real = httpx.ASGITransport(app=app)

    class SecondPageGone(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if big in request.url.path and request.url.params.get("page") == "2":
                body = {"message": f"No commit found for SHA: {big}", "status": "422"}
                return httpx.Response(422, json=body)
            return await real.handle_async_request(request)

    async def go() -> Any:
        config = GitHubConfig(api_url="http://fakehub.test", max_retries=0)
        async with GitHubClient(config, transport=SecondPageGone(), sleep=_no_sleep) as client:
            return await discover_repository(
                client,
                name,
                SyncCursors(),
                {},
                mode="full",
                now=matrix.now,
                check_runs_lookback=None,
            )

    result = asyncio.run(go())
    assert [f.key for f in result.item_failures] == [big]
    assert big not in result.check_runs.column("head_sha").to_pylist()
    assert big not in result.cursors.check_run_etags
    assert result.cursors.check_run_failures[big].attempts == 1
    others = [s for s in result.check_runs.column("head_sha").to_pylist() if s != big]
    assert others  # the other SHAs were stored


def test_single_mode_a_missing_pull_request_is_an_item_failure(world: World) -> None:
    name = world.repository_names()[0]
    app = create_app(world, HubConfig())
    result = _discover(app, world, name, mode="single", pr_number=99_999)
    assert [(f.kind, f.key, f.http_status) for f in result.item_failures] == [
        ("pull_request", "99999", 404)
    ]
    assert result.pull_requests.num_rows == 0 and result.check_runs.num_rows == 0
    assert result.github_repository_id == world.find_repository(name).id  # type: ignore[union-attr]


def test_single_mode_a_missing_repository_still_fails(world: World) -> None:
    app = create_app(world, HubConfig())
    with pytest.raises(PermissionDeniedError, match="404"):
        _discover(app, world, "acme/no-such-repo", mode="single", pr_number=1)


def test_the_repository_id_is_reported_and_a_replaced_repository_stops_the_walk(
    world: World,
) -> None:
    name = world.repository_names()[0]
    ident = world.find_repository(name).id  # type: ignore[union-attr]
    app = create_app(world, HubConfig())
    seen = _discover(app, world, name)
    assert seen.github_repository_id == ident
    assert _discover(app, world, name, expected_repository_id=ident).pull_requests.num_rows
    hub = app.state.hub
    before = hub.counters.total
    with pytest.raises(RepositoryReplacedError) as caught:
        _discover(app, world, name, expected_repository_id=ident + 1)
    assert (caught.value.expected_id, caught.value.seen_id) == (ident + 1, ident)
    assert hub.counters.total == before + 1  # the first page only: no check runs, no page 2
