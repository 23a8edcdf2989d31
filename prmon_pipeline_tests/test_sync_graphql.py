"""Check runs read by GraphQL batches, end to end on fakehub and PostgreSQL (issue 15 §2).

The property: on the same simulated world, ``api="rest"`` and ``api="graphql"`` leave identical
warehouses (PRs, every stored check run, state history) after cold, incremental and full syncs,
and both equal the world. Then: several repositories share queries (coalescing), ``auto`` falls
back to REST where the server has no GraphQL, and each GraphQL fault leaves a sync that
converges without a cursor moving past data it did not store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from starlette.types import Receive, Scope, Send

from prmon_pipeline.core.discovery_plan import graphql_read_at
from prmon_pipeline.core.models import ApiMode, SyncMode
from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.sync import SyncOptions, sync_repositories
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.github.simulation import FakeClock, make_client, make_hub
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches
from prmon_pipeline_tests.sync_harness import EXACT, client_for, cursors, register


@pytest.fixture
def rest_warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_gql_rest")


@pytest.fixture
def graphql_warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_gql")


def _sync_all(
    url: str,
    world: World,
    client: GitHubClient,
    api: ApiMode,
    mode: SyncMode = "incremental",
    options: SyncOptions = EXACT,
) -> list[Any]:
    """Every repository of the world, at its simulated time; every one must succeed."""
    outcomes = asyncio.run(
        sync_repositories(
            world.repository_names(),
            database_url=url,
            client=client,
            options=replace(options, mode=mode, api=api),
            now=lambda: world.now,
        )
    )
    errors = [str(o.error) for o in outcomes if o.error is not None]
    assert not errors, errors
    return [o.figures for o in outcomes]


def _contents(url: str, name: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Every live PR, every stored check run (not only heads'), and the state history."""
    where = " JOIN prmon.repositories r ON r.id = p.repository_id WHERE r.full_name = %s"
    prs = (
        "SELECT p.number, p.github_id, p.title, p.state, p.head_sha, p.updated_at, p.closed_at,"
        " p.merged_at, p.deleted_at IS NULL AS live FROM prmon.pull_requests p" + where
    )
    runs = (
        "SELECT p.number, c.github_id, c.head_sha, c.name, c.status, c.conclusion, c.app_slug,"
        " c.details_url, c.started_at, c.completed_at, c.output_title, c.output_summary"
        " FROM prmon.check_runs c JOIN prmon.pull_requests p ON p.id = c.pull_request_id" + where
    )
    history = (
        "SELECT p.number, h.from_state, h.to_state, h.changed_at FROM prmon.pr_state_history h"
        " JOIN prmon.pull_requests p ON p.id = h.pull_request_id" + where
    )
    frames = []
    with connect(url, autocommit=True) as conn:
        for sql in (prs, runs, history):
            cursor = conn.execute(sql, (name,))
            columns = [d.name for d in cursor.description or ()]
            frames.append(pl.DataFrame(cursor.fetchall(), schema=columns, orient="row"))
    keys = (["number"], ["number", "github_id"], ["number", "changed_at", "to_state"])
    return tuple(f.sort(k) for f, k in zip(frames, keys, strict=True))  # type: ignore[return-value]


@pytest.mark.parametrize("api", ["graphql", "auto"])
def test_rest_and_graphql_leave_identical_warehouses(
    rest_warehouse: str, graphql_warehouse: str, api: ApiMode
) -> None:
    """Cold, three incremental cycles and a full sync: equal warehouses, equal to the world.

    Matrix heads carry more than 100 runs, so runs pages past the first are followed by
    cursors; the world's checks keep running, so incremental cycles re-read running SHAs.
    """
    world = World(
        WorldConfig(
            seed=23,
            repositories=3,
            prs_per_repository=40,
            matrix_fraction=0.1,
            matrix_runs=(120, 230),
        )
    )
    app = create_app(world, HubConfig())
    register(rest_warehouse, world)
    register(graphql_warehouse, world)
    rest, graphql = client_for(app), client_for(app)
    steps: list[tuple[float, SyncMode]] = [
        (0, "incremental"),
        (900, "incremental"),
        (3600, "incremental"),
        (7200, "incremental"),
        (0, "full"),
    ]
    for seconds, mode in steps:
        world.advance(seconds)
        _sync_all(rest_warehouse, world, rest, "rest", mode)
        _sync_all(graphql_warehouse, world, graphql, api, mode)
        for name in world.repository_names():
            for by_rest, by_graphql in zip(
                _contents(rest_warehouse, name), _contents(graphql_warehouse, name), strict=True
            ):
                assert_frame_equal(by_rest, by_graphql)
            assert_warehouse_matches(graphql_warehouse, world, name)
    assert rest.counters.graphql_queries == 0
    assert graphql.counters.graphql_queries > 0 and graphql.counters.graphql_points > 0
    stored = cursors(graphql_warehouse, world.repository_names()[0]).check_run_etags
    assert stored and all(graphql_read_at(value) is not None for value in stored.values())


def test_a_cold_sync_of_many_repositories_shares_queries(graphql_warehouse: str) -> None:
    """Eight small repositories, four at once: fewer GraphQL queries than repositories, and
    the points charged to the repositories add up to what the queries cost."""
    world = World(WorldConfig(seed=5, repositories=8, prs_per_repository=6))
    register(graphql_warehouse, world)
    client = client_for(create_app(world, HubConfig()))
    figures = _sync_all(graphql_warehouse, world, client, "graphql")
    queries = client.counters.graphql_queries
    assert 0 < queries < len(world.repository_names())
    assert sum(f.cost.graphql_points for f in figures) == client.counters.graphql_points
    assert all(f.cost.graphql_queries >= 1 for f in figures)
    for name in world.repository_names():
        assert_warehouse_matches(graphql_warehouse, world, name)


class WithoutGraphQL:
    """An ASGI app that answers 404 on ``/graphql`` (GHES without it, an old simulator) and
    passes everything else to fakehub."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state
        self.graphql_posts = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/graphql"):
            self.graphql_posts += 1
            body = b'{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def test_auto_falls_back_to_rest_where_the_server_has_no_graphql(
    graphql_warehouse: str, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(WorldConfig(seed=7, repositories=3, prs_per_repository=10))
    register(graphql_warehouse, world)
    app = WithoutGraphQL(create_app(world, HubConfig()))
    client = client_for(app)
    with caplog.at_level(logging.WARNING, logger="prmon_pipeline.github.discovery"):
        _sync_all(graphql_warehouse, world, client, "auto")
        world.advance(1800)
        _sync_all(graphql_warehouse, world, client, "auto")
    assert app.graphql_posts == 1
    fell_back = [
        r.getMessage() for r in caplog.records if "reading check runs by REST" in r.getMessage()
    ]
    assert len(fell_back) == len(world.repository_names())
    for name in world.repository_names():
        assert_warehouse_matches(graphql_warehouse, world, name)


class GraphQLStatuses:
    """Passes everything to fakehub and records the status of every ``/graphql`` answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state
        self.statuses: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/graphql"):
            await self.app(scope, receive, send)
            return

        async def recording(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, recording)


# --- GraphQL faults: the sync converges, and no cursor moves past data it did not store -------

FAULTS: dict[str, dict[str, Any]] = {
    "rate_limited_200": {"graphql_rate_limit": 4},
    "timeout_502_json": {"graphql_timeout_nodes": 3_000},
    "timeout_504_html": {
        "graphql_timeout_nodes": 3_000,
        "graphql_timeout_status": 504,
        "graphql_timeout_html": True,
    },
    "resource_limits_partial": {"graphql_resource_limit_nodes": 3_000},
    "secondary_403": {"graphql_secondary_per_minute": 1},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_graphql_fault_is_survived_and_the_sync_converges(
    graphql_warehouse: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Cold and incremental syncs under the fault: every repository succeeds and equals the
    world (a 200 RATE_LIMITED waits for the pool's reset, a 403 secondary limit for its
    ``retry-after``, a 502/504 or a partial answer shrinks the batch and asks again only for
    what failed)."""
    world = World(WorldConfig(seed=31, repositories=3, prs_per_repository=25))
    clock = FakeClock()
    app = GraphQLStatuses(make_hub(world, clock, **FAULTS[fault]))
    register(graphql_warehouse, world)
    client = make_client(app, clock, max_retries=2, backoff_base=0.0)
    with caplog.at_level(logging.INFO, logger="prmon_pipeline.github.graphql"):
        for seconds in (0, 1800):
            world.advance(seconds)
            _sync_all(graphql_warehouse, world, client, "graphql")
            for name in world.repository_names():
                assert_warehouse_matches(graphql_warehouse, world, name)
    counters = app.state.hub.counters
    shrunk = [r for r in caplog.records if "too big or slow" in r.getMessage()]
    if fault == "rate_limited_200":
        assert counters.graphql_rate_limited > 0 and clock.sleeps
    elif fault == "secondary_403":
        assert 403 in app.statuses and clock.sleeps
    else:
        assert shrunk, "the fault never fired"
    if fault.startswith("timeout"):
        assert int(fault[8:11]) in app.statuses


def test_a_fault_that_never_clears_fails_the_repositories_and_moves_no_cursor(
    graphql_warehouse: str,
) -> None:
    """Every GraphQL query times out (even of one SHA): the repositories fail after the PR
    list was read, their cursors stay where the last success left them, and once GitHub
    answers again the next sync converges."""
    world = World(WorldConfig(seed=37, repositories=2, prs_per_repository=20))
    clock = FakeClock()
    register(graphql_warehouse, world)
    healthy = make_client(make_hub(world, clock), clock, max_retries=1, backoff_base=0.0)
    broken = make_client(
        make_hub(world, clock, graphql_timeout_nodes=1), clock, max_retries=1, backoff_base=0.0
    )
    names = world.repository_names()
    options = replace(EXACT, api="graphql")
    for cold in (True, False):
        before = {name: cursors(graphql_warehouse, name) for name in names}
        stored = {name: _contents(graphql_warehouse, name) for name in names}
        world.advance(0 if cold else 3600)
        outcomes = asyncio.run(
            sync_repositories(
                names,
                database_url=graphql_warehouse,
                client=broken,
                options=options,
                now=lambda: world.now,
            )
        )
        assert all(o.error is not None and "too big" in str(o.error) for o in outcomes)
        for name in names:
            assert cursors(graphql_warehouse, name) == before[name]
            for was, now in zip(stored[name], _contents(graphql_warehouse, name), strict=True):
                assert_frame_equal(was, now)
        _sync_all(graphql_warehouse, world, healthy, "graphql")
        for name in names:
            assert_warehouse_matches(graphql_warehouse, world, name)


def test_a_re_run_without_a_pr_change_is_read_by_graphql_on_the_next_cycle(
    graphql_warehouse: str,
) -> None:
    """The sweep of open PRs re-reads finished checks by GraphQL: a re-run that GitHub
    signals nowhere on the PR is stored on the next cycle, however soon it comes."""
    world = World(WorldConfig(seed=11, repositories=1, prs_per_repository=40, events_per_hour=0))
    register(graphql_warehouse, world)
    client = client_for(create_app(world, HubConfig()))
    name = world.repository_names()[0]
    _sync_all(graphql_warehouse, world, client, "graphql")
    number = next(
        pr["number"]
        for pr in world.pull_requests(name)
        if pr["state"] == "open"
        and world.check_runs(name, pr["head"]["sha"])
        and all(r["status"] == "completed" for r in world.check_runs(name, pr["head"]["sha"]))
    )
    sha = world.touch_check_runs_only(name, number)
    (figures,) = _sync_all(graphql_warehouse, world, client, "graphql")  # the same second
    assert figures.counts.check_runs_new >= 1 and figures.prs_seen == 0
    assert sha in _contents(graphql_warehouse, name)[1]["head_sha"].to_list()
    assert_warehouse_matches(graphql_warehouse, world, name)
