"""The transport: faults and rate limits survived with the right waits (fake clock), permission
errors not retried, the token kept out of every message, headers, GHES base URLs, counters."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from prmon_pipeline.core.errors import (
    GitHubError,
    PermissionDeniedError,
    RateLimitedError,
    TransientGitHubError,
)
from prmon_pipeline.fakehub import FaultSpec, serve
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline_tests.github.simulation import (
    API,
    FakeClock,
    Warehouse,
    discover,
    make_client,
    make_hub,
    small_world,
    sort_prs,
    sort_runs,
    truth_check_runs,
    truth_pull_requests,
)

TOKEN = "ghp_SECRETsecretSECRET0123456789abcdef"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def full_discovery_matches_truth(client: GitHubClient, world: Any, repository: str) -> None:
    result = await discover(client, world, repository, Warehouse(), mode="full")
    assert sort_prs(result.pull_requests).equals(truth_pull_requests(world, repository))
    assert sort_runs(result.check_runs).equals(truth_check_runs(world, repository))


FAULT_KINDS = [
    "500",
    "502",
    "503",
    "504",
    "html_500",
    "html_502",
    "html_503",
    "html_504",
    "reset",
    "truncated",
    "malformed",
]


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("route", ["pulls", "check_runs"])
def test_every_fault_kind_is_survived_with_back_off(kind: str, route: str) -> None:
    world, clock = small_world(prs_per_repository=60), FakeClock()
    app = make_hub(world, clock)
    app.state.hub.faults.add(FaultSpec(route=route, kind=kind, count=3))
    repository = world.repository_names()[0]

    async def scenario() -> None:
        async with make_client(app, clock, max_retries=5) as client:
            await full_discovery_matches_truth(client, world, repository)
            assert client.counters.retries == 3
        assert app.state.hub.counters.faults == 3
        assert len(clock.sleeps) == 3
        assert all(0 < s <= 60 for s in clock.sleeps)

    run(scenario())


def test_back_off_is_exponential_and_gives_up() -> None:
    world, clock = small_world(prs_per_repository=10), FakeClock()
    app = make_hub(world, clock)
    app.state.hub.faults.add(FaultSpec(route="pulls", kind="502"))
    repository = world.repository_names()[0]

    async def scenario() -> None:
        async with make_client(app, clock, max_retries=4, backoff_base=2.0) as client:
            with pytest.raises(TransientGitHubError, match=r"gave up after 4 retries: 502"):
                await discover(client, world, repository, Warehouse())
            assert client.counters.requests == 5
        for attempt, slept in enumerate(clock.sleeps):
            ceiling = 2.0 * 2**attempt
            assert ceiling / 2 <= slept < ceiling

    run(scenario())


class UnansweredFirstPullsPage:
    """ASGI wrapper: the first PR-list request never gets an answer; the hub serves the rest.

    The unanswered request ends when the client hangs up, so only the client's timeout can end
    it: no race between a server delay and the timeout. ``state`` is the hub's, for ``serve``.
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state
        self.unanswered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.unanswered or not scope.get("path", "").endswith("/pulls"):
            await self.app(scope, receive, send)
            return
        self.unanswered += 1
        while (await receive())["type"] != "http.disconnect":
            pass


@pytest.mark.servers
def test_slow_answers_time_out_and_are_retried_over_a_real_socket() -> None:
    """A 2 s timeout: the loopback answers take milliseconds, the unanswered one forever."""
    world, clock = small_world(prs_per_repository=10), FakeClock()
    app = UnansweredFirstPullsPage(make_hub(world, clock))
    repository = world.repository_names()[0]

    async def scenario(base_url: str) -> None:
        config = GitHubConfig(api_url=base_url, timeout=2.0)
        async with GitHubClient(config, sleep=clock.sleep, clock=clock.time) as client:
            await full_discovery_matches_truth(client, world, repository)
            assert client.counters.retries == 1

    with serve(app) as base_url:  # type: ignore[arg-type]  # an ASGI app with the hub's state
        run(scenario(base_url))
    assert app.unanswered == 1


@pytest.mark.parametrize("status", [403, 429])
def test_primary_limit_waits_until_reset(status: int) -> None:
    world, clock = small_world(prs_per_repository=60), FakeClock()
    app = make_hub(world, clock, rate_limit=40, rate_limit_status=status)
    repository = world.repository_names()[0]

    async def scenario() -> None:
        async with make_client(app, clock, max_concurrency=1) as client:
            await full_discovery_matches_truth(client, world, repository)
            counters = client.counters
        assert counters.waits >= 1
        assert app.state.hub.counters.rate_limited == counters.waits  # one 403 per window
        # Each wait lasts until x-ratelimit-reset (+1 s): never before, never much after.
        assert all(3000 < s <= 3601 for s in clock.sleeps)
        assert counters.retries == 0

    run(scenario())


def test_secondary_per_minute_limit_honours_retry_after() -> None:
    world, clock = small_world(prs_per_repository=60), FakeClock()
    app = make_hub(world, clock, secondary_per_minute=15)
    repository = world.repository_names()[0]

    async def scenario() -> None:
        async with make_client(app, clock, max_concurrency=1) as client:
            await full_discovery_matches_truth(client, world, repository)
            assert client.counters.waits >= 3
        assert app.state.hub.counters.secondary_limited >= 3
        assert all(1 <= s <= 60 for s in clock.sleeps)  # exactly Retry-After, to the minute

    run(scenario())


@pytest.mark.servers
def test_secondary_concurrency_limit_is_respected_by_the_bound() -> None:
    world, clock = small_world(prs_per_repository=60), FakeClock()
    app = make_hub(world, clock, secondary_concurrency=4)
    repository = world.repository_names()[0]

    async def scenario(base_url: str, max_concurrency: int) -> int:
        config = GitHubConfig(api_url=base_url, max_concurrency=max_concurrency)
        async with GitHubClient(config, sleep=clock.sleep, clock=clock.time) as client:
            await full_discovery_matches_truth(client, world, repository)
            return client.counters.waits

    with serve(app) as base_url:
        assert run(scenario(base_url, 4)) == 0  # the bound keeps us under GitHub's limit
        assert app.state.hub.counters.secondary_limited == 0
        run(scenario(base_url, 32))  # without it GitHub may say wait (Retry-After 60): we do
    assert all(s == 60 for s in clock.sleeps)


# --- shapes fakehub does not produce: a tiny mock GitHub --------------------------------------


def mock_client(handler: Any, clock: FakeClock, **config: Any) -> GitHubClient:
    return GitHubClient(
        GitHubConfig(api_url=API, token=TOKEN, **config),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock.time,
    )


def json_response(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
    )


def test_secondary_limit_without_hints_backs_off_from_60_s_exponentially() -> None:
    clock, answers = FakeClock(), iter(range(10))
    message = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}

    def handler(request: httpx.Request) -> httpx.Response:
        if next(answers) < 3:
            return json_response(403, message)  # the body is the only marker
        return json_response(200, [])

    async def scenario() -> None:
        async with mock_client(handler, clock) as client:
            response = await client.get("repos/a/b/pulls")
            assert response.data == []
            assert client.counters.waits == 3

    run(scenario())
    assert clock.sleeps == [60.0, 120.0, 240.0]


def test_rate_limit_wait_longer_than_allowed_raises() -> None:
    clock = FakeClock()
    reset = str(int(clock.now) + 7200)

    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(
            403,
            {"message": "API rate limit exceeded"},
            **{
                "x-ratelimit-remaining": "0",
                "x-ratelimit-limit": "5000",
                "x-ratelimit-reset": reset,
            },
        )

    async def scenario() -> None:
        async with mock_client(handler, clock, max_wait_seconds=3600) as client:
            with pytest.raises(RateLimitedError) as caught:
                await client.get("repos/a/b/pulls", context="a/b")
        assert caught.value.retry_after == pytest.approx(7201)

    run(scenario())
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "Resource not accessible by integration"),
        (403, "Must have push access to view repository collaborators."),
        (404, "Not Found"),
        (401, "Bad credentials"),
    ],
)
def test_permission_errors_are_not_retried_and_never_show_the_token(
    status: int, message: str
) -> None:
    clock, seen = FakeClock(), []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(status, {"message": message}, **{"x-ratelimit-remaining": "4999"})

    async def scenario() -> None:
        async with mock_client(handler, clock) as client:
            with pytest.raises(PermissionDeniedError) as caught:
                await client.get("repos/a/b/pulls", context="a/b")
            assert caught.value.http_status == status  # discovery classifies by it
            text = str(caught.value)
            assert text.startswith("a/b: GET /repos/a/b/pulls")
            assert message in text
            for item in (text, repr(caught.value), repr(client.config), str(client.counters)):
                assert TOKEN not in item

    run(scenario())
    assert len(seen) == 1 and clock.sleeps == []
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_validation_error_fails_without_retry() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(422, {"message": "Validation Failed"})

    async def scenario() -> None:
        async with mock_client(handler, clock) as client:
            with pytest.raises(GitHubError, match="422 Validation Failed") as caught:
                await client.get("repos/a/b/pulls")
            assert type(caught.value) is GitHubError and caught.value.http_status == 422
            assert client.counters.retries == 0

    run(scenario())


def test_request_headers_ghes_base_url_and_counters() -> None:
    clock, seen = FakeClock(), []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(
            200,
            [],
            etag='W/"abc"',
            **{
                "x-ratelimit-remaining": "4321",
                "x-ratelimit-limit": "5000",
                "x-ratelimit-reset": "99",
            },
        )

    async def scenario() -> None:
        config = GitHubConfig(api_url="https://ghe.example/api/v3", token=TOKEN, user_agent="ua/1")
        transport = httpx.MockTransport(handler)
        async with GitHubClient(config, transport=transport, sleep=clock.sleep) as client:
            response = await client.get("repos/a/b/pulls", params={"per_page": 100}, etag='W/"x"')
            assert response.etag == 'W/"abc"'
            counters = client.counters
        assert counters.requests == 1
        assert counters.bytes > 0
        assert counters.rate_limit_remaining == 4321 and counters.rate_limit_reset == 99
        assert counters.parse_seconds > 0  # the body was decoded and the time counted

    run(scenario())
    request = seen[0]
    assert str(request.url) == "https://ghe.example/api/v3/repos/a/b/pulls?per_page=100"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["user-agent"] == "ua/1"
    assert request.headers["if-none-match"] == 'W/"x"'
    assert "gzip" in request.headers["accept-encoding"]


@pytest.mark.servers
def test_ghes_fakehub_with_auth_and_gzip_over_loopback() -> None:
    world, clock = small_world(prs_per_repository=20), FakeClock()
    app = make_hub(world, clock, ghes=True, require_auth=True, valid_tokens=frozenset({TOKEN}))
    repository = world.repository_names()[0]

    async def scenario(base_url: str) -> None:
        config = GitHubConfig(api_url=base_url, token=TOKEN)
        async with GitHubClient(config, sleep=clock.sleep, clock=clock.time) as client:
            await full_discovery_matches_truth(client, world, repository)
            assert client.counters.bytes < 200_000  # gzip on the wire

    with serve(app) as base_url:
        assert base_url.endswith("/api/v3")
        run(scenario(base_url))
