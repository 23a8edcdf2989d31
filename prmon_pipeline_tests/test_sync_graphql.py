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
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from starlette.types import Receive, Scope, Send

from prmon_pipeline.core.discovery_plan import LONG_RUNNING, graphql_read_at, rest_validator
from prmon_pipeline.core.models import ApiMode, SyncMode
from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.graphql import graphql_reader_for
from prmon_pipeline.sync import SyncOptions, sync_repositories
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.github.simulation import FakeClock, make_client, make_hub
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches, warehouse_tables
from prmon_pipeline_tests.sync_harness import EXACT, client_for, cursors, register
from prmon_pipeline_tests.world_truth import expected_check_runs


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
    if api == "graphql":  # auto moves SHAs running for long to REST ETags (test below)
        assert stored and all(graphql_read_at(value) is not None for value in stored.values())


POLL_RUNNING = replace(EXACT, refresh_open_checks=False)
"""What a scheduled cycle reads: new and moved heads, and SHAs whose checks still run."""


def _running_heads(world: World) -> dict[str, set[str]]:
    """Head SHAs with an unfinished run, by whether one started over an hour before now."""
    found: dict[str, set[str]] = {"long": set(), "young": set()}
    for name in world.repository_names():
        for head in {p["head"]["sha"] for p in world.pull_requests(name)}:
            started = [
                datetime.fromisoformat(r["started_at"])
                for r in world.check_runs(name, head)
                if r["status"] != "completed"
            ]
            if started:
                old = min(started) < world.now - LONG_RUNNING
                found["long" if old else "young"].add(head)
    return found


def _spent(hub: Any) -> tuple[int, int]:
    """(REST units, GraphQL points) fakehub charged since its last reset; then reset it."""
    spent = (
        hub.config.rate_limit - hub.rate_limit_remaining(None),
        hub.config.rate_limit - hub.rate_limit_remaining(None, "graphql"),
    )
    hub.reset_rate_limit()
    hub.counters.reset()
    return spent


def test_checks_running_for_long_are_polled_by_rest_etags_and_a_quiet_cycle_is_free(
    graphql_warehouse: str,
) -> None:
    """``auto``: a SHA GraphQL shows running for over an hour (stuck queued runs) is read once
    more by REST for its ETag, then polled with ``If-None-Match`` every cycle: free 304s while
    it stays as it is, and its change is seen the cycle it happens. Young running SHAs stay on
    GraphQL. So a cycle in which nothing changed costs nothing while only stuck checks run."""
    world = World(WorldConfig(seed=41, repositories=3, prs_per_repository=40, history_days=10))
    app = create_app(world, HubConfig())
    hub = app.state.hub
    register(graphql_warehouse, world)
    client = client_for(app)
    running = _running_heads(world)
    assert running["long"] and not running["young"]  # the world's stuck runs, nothing fresh

    def cycle(options: SyncOptions = POLL_RUNNING) -> None:
        _sync_all(graphql_warehouse, world, client, "auto", options=options)

    cycle()  # cold
    units, points = _spent(hub)
    stored = {
        sha: value
        for name in world.repository_names()
        for sha, value in cursors(graphql_warehouse, name).check_run_etags.items()
    }
    assert all(rest_validator(stored[sha]) is not None for sha in running["long"])
    assert points > 0 and units >= len(running["long"])  # one REST read each, for the ETag

    cycle()  # nothing changed
    polled, statuses = hub.counters.by_route.get("check_runs", 0), dict(hub.counters.by_status)
    assert _spent(hub) == (0, 0)
    assert polled >= len(running["long"])  # a page each (matrix heads have more)
    assert statuses == {304: polled + len(world.repository_names())}  # and each PR list's

    world.advance(600)  # new heads: young running checks, read by GraphQL
    cycle()
    young = _running_heads(world)["young"]
    assert young and _spent(hub)[1] > 0
    cycle()  # nothing changed again
    units, points = _spent(hub)
    assert units == 0 and 0 < points <= len(young)  # only the young ones, by GraphQL

    world.advance(15 * 86400)  # the stuck runs turn completed/stale: REST sees the change
    cycle()
    assert _spent(hub)[0] >= len(running["long"] - _moved_heads(world, running["long"]))
    for name in world.repository_names():  # (a re-run of a closed PR waits for a full sync)
        stored = warehouse_tables(graphql_warehouse, name)[1]
        expected = pl.from_arrow(expected_check_runs(world, name))
        assert isinstance(expected, pl.DataFrame)
        assert_frame_equal(*(_of_heads(t, running["long"]) for t in (stored, expected)))
        assert set(_of_heads(stored, running["long"])["status"]) <= {"completed"}


def _moved_heads(world: World, shas: set[str]) -> set[str]:
    """Those of ``shas`` that no PR points at any more."""
    heads = {p["head"]["sha"] for n in world.repository_names() for p in world.pull_requests(n)}
    return shas - heads


def _of_heads(runs: pl.DataFrame, shas: set[str]) -> pl.DataFrame:
    return runs.filter(pl.col("head_sha").is_in(sorted(shas))).sort("pr_number", "github_id")


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


def test_repositories_waiting_for_graphql_lend_their_place_so_queries_fill_up(
    graphql_warehouse: str,
) -> None:
    """Twelve small repositories, two at once: each asks for fewer SHAs than a query holds, so
    it lends its place while it waits, the next ones start and join the query, and the queries
    are as few as the SHAs allow (24 first pages a point) instead of one or more per pair."""
    world = World(WorldConfig(seed=5, repositories=12, prs_per_repository=4, matrix_fraction=0.0))
    register(graphql_warehouse, world)
    client = client_for(create_app(world, HubConfig()))
    graphql_reader_for(client).linger_seconds = 60.0  # a slow machine must not cut one short
    outcomes = asyncio.run(
        sync_repositories(
            world.repository_names(),
            database_url=graphql_warehouse,
            client=client,
            options=replace(EXACT, api="graphql"),
            concurrency=2,
            now=lambda: world.now,
        )
    )
    assert all(o.error is None for o in outcomes)
    heads = sum(
        len({p["head"]["sha"] for p in world.pull_requests(name)})
        for name in world.repository_names()
    )
    assert heads > 24  # more than one query's worth
    assert client.counters.graphql_queries == math.ceil(heads / 24)
    assert client.counters.graphql_points == client.counters.graphql_queries  # 1 point each
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
