"""``max_budget_share``: the client stops sending before it spends what is left to other tools,
per pool as ``x-ratelimit-resource`` names it, and starts again once the window has reset."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest

from prmon_pipeline.core.errors import BudgetReservedError, ConfigurationError, RateLimitedError
from prmon_pipeline.github.client import GitHubClient, GitHubConfig, RequestTally
from prmon_pipeline_tests.github.simulation import (
    API,
    FakeClock,
    Warehouse,
    delayed,
    discover,
    make_client,
    make_hub,
    small_world,
)

TOKEN = "ghp_budget"


def test_discovery_stops_at_the_share_and_resumes_after_the_reset() -> None:
    world = small_world(repositories=1, prs_per_repository=120)
    clock = FakeClock()
    app = make_hub(world, clock, rate_limit=100)
    hub = app.state.hub
    name = world.repository_names()[0]

    transport = httpx.ASGITransport(app=delayed(app))  # the check-run workers overlap

    async def scenario() -> None:
        async with make_client(app, clock, transport, token=TOKEN, max_budget_share=0.4) as client:
            with pytest.raises(BudgetReservedError) as caught:
                await discover(client, world, name, Warehouse(), mode="full")
            stop = caught.value
            assert (stop.pool, stop.limit) == ("core", 100)
            assert stop.remaining < 60
            assert "budget share reached" in str(stop) and name in str(stop)
            assert hub.rate_limit_remaining(TOKEN) >= 59  # requests in flight counted as spent
            sent = hub.counters.total
            with pytest.raises(BudgetReservedError):
                await client.get(f"repos/{name}/pulls", context=name)
            assert hub.counters.total == sent  # refused before sending
            clock.now = stop.reset_epoch + 1  # a new hour: the whole share again
            response = await client.get(f"repos/{name}/pulls", context=name)
            assert response.status == 200

    asyncio.run(scenario())


def test_each_pool_is_tracked_from_its_own_headers() -> None:
    world = small_world(repositories=1, prs_per_repository=1)
    clock = FakeClock()
    app = make_hub(world, clock)

    async def scenario() -> None:
        async with make_client(app, clock, token=TOKEN, max_budget_share=0.5) as client:
            tally = RequestTally()
            reset = int(clock.now) + 3600
            graphql = {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "2400",
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "graphql",
            }
            client.note_rate_limit(graphql, "acme", (tally,))
            assert tally.graphql_remaining == 2400 and tally.rate_limit_remaining is None
            with pytest.raises(BudgetReservedError) as caught:
                client.check_budget("graphql", "acme", "acme/x: POST /graphql")
            assert caught.value.pool == "graphql"
            client.check_budget("core", "acme", "acme/x: GET /pulls")  # REST is untouched
            core = {**graphql, "x-ratelimit-remaining": "4999", "x-ratelimit-resource": "core"}
            client.note_rate_limit(core, "acme", (tally,))
            assert tally.rate_limit_remaining == 4999 and tally.cost().graphql_remaining == 2400

    asyncio.run(scenario())


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ConfigurationError, match="budget share must be above 0"):
        GitHubClient(GitHubConfig(api_url="http://x", max_budget_share=share))


@dataclass
class PerOwnerTokens:
    """A token per owner, as an App's installations give (without the App ceremony)."""

    async def authorization(self, owner: str | None, repository: str | None) -> str | None:
        return f"Bearer t-{owner}"

    def principal(self, owner: str | None) -> str:
        return owner or ""

    def invalidate(self, owner: str | None) -> bool:
        return False


def test_a_rate_limit_wait_holds_back_only_its_own_credential() -> None:
    world = small_world(repositories=1, prs_per_repository=1)
    clock = FakeClock()
    app = make_hub(world, clock)
    name = world.repository_names()[0]
    exhausted = app.state.hub.primary.bucket("t-acme")
    exhausted.used = exhausted.limit
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)  # time does not move: the wait is still pending afterwards

    async def scenario() -> None:
        config = GitHubConfig(api_url=API, max_rate_limit_waits=1)
        transport = httpx.ASGITransport(app=app)
        credentials = PerOwnerTokens()
        async with GitHubClient(
            config, transport=transport, sleep=record, clock=clock.time, credentials=credentials
        ) as client:
            with pytest.raises(RateLimitedError):
                await client.get(f"repos/{name}/pulls", context=name)
            assert sleeps  # acme waited
            sleeps.clear()
            other = await client.get(f"repos/{name}/pulls", context="globex/tools")
            assert other.status == 200 and sleeps == []  # globex's token was not held back
            with pytest.raises(RateLimitedError):
                await client.get(f"repos/{name}/pulls", context=name)
            assert sleeps  # acme's wait still stands

    asyncio.run(scenario())


def test_a_secondary_limit_holds_back_both_pools_of_the_credential() -> None:
    """Some of GitHub's secondary limits (concurrency, CPU time) are shared by REST and GraphQL
    and a refusal does not say which limit it met: after a REST request met one, a GraphQL
    query waits before it is sent (fakehub counts the two per-minute limits apart, so the
    query then goes through)."""
    world = small_world(repositories=1, prs_per_repository=1)
    clock = FakeClock()
    app = make_hub(world, clock, secondary_per_minute=1)
    hub = app.state.hub
    name = world.repository_names()[0]
    sent_before_each_wait: list[int] = []

    async def record(seconds: float) -> None:
        sent_before_each_wait.append(hub.counters.total)  # time does not move

    async def scenario() -> None:
        config = GitHubConfig(api_url=API, token=TOKEN, max_rate_limit_waits=1)
        transport = httpx.ASGITransport(app=app)
        async with GitHubClient(
            config, transport=transport, sleep=record, clock=clock.time
        ) as client:
            await client.get(f"repos/{name}/pulls", context=name)  # the minute's one request
            with pytest.raises(RateLimitedError):
                await client.get(f"repos/{name}/pulls", context=name)
            sent_before_each_wait.clear()
            sent = hub.counters.total
            answer = await client.post_graphql({"query": "{ rateLimit { cost } }"}, context=name)
            assert sent_before_each_wait[0] == sent  # it waited before sending anything
            assert answer.status == 200

    asyncio.run(scenario())
