"""Sync behaviour PostgreSQL-level tests had not covered: many check-run pages per head SHA, and a
secondary rate limit that fails one repository of a ``sync_repositories`` call while the other
is stored and its cursor moves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app
from prmon_pipeline.sync import SyncError, sync_repositories
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches, warehouse_tables
from prmon_pipeline_tests.sync_harness import (
    EXACT,
    client_for,
    cursors,
    failure,
    register,
    sync_one,
)


@pytest.fixture
def warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_faults")


# --- a head SHA with more than 100 check runs ------------------------------------------------


def _matrix_heads(world: World, name: str) -> dict[int, int]:
    """PR number -> run count, for the PRs whose head has more than two pages of runs."""
    counts = {
        pr["number"]: len(world.check_runs(name, pr["head"]["sha"]))
        for pr in world.pull_requests(name)
    }
    return {number: count for number, count in counts.items() if count > 200}


def _stored_run_counts(url: str, name: str) -> dict[int, int]:
    _, runs = warehouse_tables(url, name)
    return dict(runs.group_by("pr_number").len().iter_rows())  # type: ignore[arg-type]


def test_a_head_sha_with_hundreds_of_runs_is_stored_completely(warehouse: str) -> None:
    """Three pages of 100 on one SHA: every run stored on the cold sync and after they move."""
    config = WorldConfig(
        seed=4, repositories=1, prs_per_repository=30, matrix_fraction=0.15, matrix_runs=(230, 260)
    )
    world = World(config)
    name = world.repository_names()[0]
    matrix = _matrix_heads(world, name)
    assert matrix, "the world has no head SHA with more than 200 runs"
    register(warehouse, world)
    client = client_for(create_app(world, HubConfig()))
    for step in (0, 1800):  # cold (direct COPY), then runs that progressed (MERGE)
        world.advance(step)
        sync_one(warehouse, world, client, name)
        stored = _stored_run_counts(warehouse, name)
        assert {n: stored.get(n) for n in _matrix_heads(world, name)} == _matrix_heads(world, name)
        assert_warehouse_matches(warehouse, world, name)


# --- a secondary rate limit on one repository -------------------------------------------------


class RouteByRepository:
    """ASGI router: requests about ``limited`` go to a hub that answers only secondary limits.

    Both hubs serve the same world; fakehub's secondary limit is per token, so a second hub is
    how one repository alone is refused. ``state`` is the healthy hub's (fakehub's own tools
    look for it).
    """

    def __init__(self, healthy: Starlette, limiting: Starlette, limited: str) -> None:
        self.healthy, self.limiting = healthy, limiting
        self.prefix = f"/repos/{limited}/".lower()
        self.state = healthy.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = str(scope.get("path", "")).lower().startswith(self.prefix)
        await (self.limiting if limited else self.healthy)(scope, receive, send)


def _limiting_hub(world: World, status: int) -> Starlette:
    """Every request over the per-minute limit (0): Retry-After until the minute rolls."""
    return create_app(
        world, HubConfig(secondary_per_minute=0, secondary_status=status, clock=lambda: 1.8e9)
    )


def _sync_all(url: str, world: World, app: Any) -> list[Any]:
    client = client_for(app, max_rate_limit_waits=3)
    return asyncio.run(
        sync_repositories(
            world.repository_names(),
            database_url=url,
            client=client,
            options=EXACT,
            now=lambda: world.now,
        )
    )


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_limit_fails_one_repository_and_keeps_its_cursor(
    warehouse: str, status: int
) -> None:
    world = World(WorldConfig(seed=9, repositories=2, prs_per_repository=40, check_runs_per_sha=3))
    limited, healthy = world.repository_names()
    register(warehouse, world)
    healthy_hub = create_app(world, HubConfig())
    for name in (limited, healthy):
        sync_one(warehouse, world, client_for(healthy_hub), name)
    before = cursors(warehouse, limited)
    rows_before = warehouse_tables(warehouse, limited)
    world.advance(6 * 3600)  # both repositories changed on GitHub
    limiting_hub = _limiting_hub(world, status)
    outcomes = _sync_all(warehouse, world, RouteByRepository(healthy_hub, limiting_hub, limited))

    errors = {o.repository: o.error for o in outcomes}
    assert errors[healthy] is None
    assert isinstance(errors[limited], SyncError)
    assert "rate limit" in str(errors[limited]).lower()
    assert limiting_hub.state.hub.counters.secondary_limited >= 3  # it waited, then gave up
    assert cursors(warehouse, limited) == before != SyncCursors()
    assert before.pulls_watermark is not None
    assert _newest_update(world, limited) > before.pulls_watermark  # a success would move it
    after = warehouse_tables(warehouse, limited)
    assert after[0].equals(rows_before[0]) and after[1].equals(rows_before[1])
    count, error, statuses = failure(warehouse, limited)
    assert count == 1 and error and "rate limit" in error.lower()
    assert statuses == ["succeeded", "failed"]
    assert cursors(warehouse, healthy).pulls_watermark == _newest_update(world, healthy)
    assert_warehouse_matches(warehouse, world, healthy)


def _newest_update(world: World, name: str) -> datetime:
    repo = world.find_repository(name)
    assert repo is not None
    return datetime.fromtimestamp(max(pr.updated_at for pr in repo.pulls.values()), UTC)
