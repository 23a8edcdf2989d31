"""The GraphQL check-run reader against fakehub's endpoint, without a warehouse.

A SHA GitHub no longer knows (``object`` is null: force-pushed and garbage-collected while the
warehouse still holds it as a PR's head with pending checks) is that SHA's item failure, backed
off exactly as REST's 422 "No commit found" is; the rest of the repository is read.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
import pytest

from prmon_pipeline.core.discovery_plan import (
    KnownPullRequest,
    graphql_read_at,
    known_pull_requests_from_arrow,
)
from prmon_pipeline.core.graphql_queries import HeadKey, build_query
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.fakehub import World
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.github.discovery import DiscoveryResult, discover_repository
from prmon_pipeline.github.graphql import graphql_reader_for
from prmon_pipeline_tests.github.simulation import (
    FakeClock,
    make_client,
    make_hub,
    small_world,
    truth_check_runs,
)

GONE = "0123456789abcdef0123456789abcdef01234567"


def _discover(client, world, name, cursors, known) -> DiscoveryResult:  # type: ignore[no-untyped-def]
    return asyncio.run(
        discover_repository(
            client, name, cursors, known, now=world.now, check_runs_lookback=None, api="graphql"
        )
    )


def test_a_sha_graphql_does_not_know_is_an_item_failure_backed_off_like_rests() -> None:
    world = small_world(repositories=1, prs_per_repository=30)
    name = world.repository_names()[0]
    clock = FakeClock()
    client = make_client(make_hub(world, clock), clock)
    cold = _discover(client, world, name, SyncCursors(), {})
    assert cold.item_failures == ()
    assert cold.check_runs.sort_by([("pr_number", "ascending"), ("github_id", "ascending")]).equals(
        truth_check_runs(world, name).sort_by(
            [("pr_number", "ascending"), ("github_id", "ascending")]
        )
    )
    assert all(graphql_read_at(v) == world.now for v in cold.cursors.check_run_etags.values())

    # The warehouse holds a PR (not in the walk) whose head is a SHA GitHub has dropped.
    known = known_pull_requests_from_arrow(cold.pull_requests, cold.check_runs)
    known[9999] = KnownPullRequest(9999, GONE, "open", checks_pending=True)
    world.advance(600)
    second = _discover(client, world, name, cold.cursors, known)
    assert [(f.kind, f.key, f.http_status) for f in second.item_failures] == [
        ("check_runs", GONE, 422)
    ]
    failure = second.cursors.check_run_failures[GONE]
    assert failure.attempts == 1 and failure.retry_after - world.now == timedelta(hours=1)
    assert GONE not in second.cursors.check_run_etags

    # Within the back-off the SHA is not asked again.
    queries = client.counters.graphql_queries
    world.advance(600)
    third = _discover(client, world, name, second.cursors, known)
    assert third.item_failures == () and third.cursors.check_run_failures[GONE] == failure
    assert client.counters.graphql_queries - queries <= 1


def test_discoveries_walking_at_once_share_one_query_and_no_task_is_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two repositories' first pages go out in one query: the reader waits for a discovery
    that announced itself until it asks. Follow-up pages (a matrix head's runs past 100) may
    take more queries; the points charged to the repositories add up to GitHub's."""
    world = small_world(repositories=2, prs_per_repository=10)
    clock = FakeClock()
    client = make_client(make_hub(world, clock), clock)
    reader = graphql_reader_for(client)
    assert graphql_reader_for(client) is reader

    async def both() -> list[DiscoveryResult]:
        results = await asyncio.gather(
            *(
                discover_repository(
                    client,
                    n,
                    SyncCursors(),
                    {},
                    now=world.now,
                    check_runs_lookback=None,
                    api="graphql",
                )
                for n in world.repository_names()
            )
        )
        await asyncio.sleep(0)
        assert reader._pump is None or reader._pump.done()
        return list(results)

    with caplog.at_level(logging.INFO, logger="prmon_pipeline.github.graphql"):
        results = asyncio.run(both())
    first = next(r.getMessage() for r in caplog.records if "GraphQL check runs:" in r.getMessage())
    assert first.startswith("GraphQL check runs: 20 items of ")
    assert all(name in first for name in world.repository_names())
    assert sum(r.stats.check_run_shas for r in results) == 20
    assert sum(r.stats.cost.graphql_points for r in results) == client.counters.graphql_points


def _small_query(world: World) -> dict[str, object]:
    name = world.repository_names()[0]
    head = world.pull_requests(name)[0]["head"]["sha"]
    return build_query([HeadKey(name, head)]).payload()


def test_the_pools_are_apart_an_exhausted_rest_pool_does_not_hold_graphql_back() -> None:
    """REST's last unit spent: a GraphQL query still goes at once, charged to its own pool,
    and the counters keep the two apart (the POST is no REST unit)."""
    world = small_world(repositories=1, prs_per_repository=5)
    clock = FakeClock()
    client = make_client(make_hub(world, clock, rate_limit=1, graphql_rate_limit=5000), clock)
    name = world.repository_names()[0]

    async def run() -> None:
        await client.get(f"repos/{name}/pulls", context=name)  # the one REST unit
        answer = await client.post_graphql(_small_query(world), context=name)
        assert answer.data["data"]["rateLimit"]["cost"] == 1
        assert answer.headers["x-ratelimit-resource"] == "graphql"

    asyncio.run(run())
    assert clock.sleeps == []
    cost = client.counters
    assert (cost.graphql_queries, cost.graphql_points, cost.graphql_remaining) == (1, 1, 4999)
    assert (cost.requests, cost.units, cost.rate_limit_remaining) == (1, 1, 0)


def test_under_ghes_the_graphql_endpoint_is_api_graphql() -> None:
    world = small_world(repositories=1, prs_per_repository=5)
    clock = FakeClock()
    app = make_hub(world, clock, ghes=True)
    client = GitHubClient(
        GitHubConfig(api_url="http://ghes.test/api/v3"),
        transport=httpx.ASGITransport(app=app),
        sleep=clock.sleep,
        clock=clock.time,
    )
    answer = asyncio.run(client.post_graphql(_small_query(world)))
    assert answer.url == "http://ghes.test/api/graphql"
    assert answer.data["data"]["r0"]["h0"]["checkSuites"] is not None
