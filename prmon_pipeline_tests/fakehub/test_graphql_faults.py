"""GraphQL faults a client must survive: primary exhaustion (HTTP 200 ``RATE_LIMITED``),
secondary limits, timeouts of large queries, resource limits with partial data, and the generic
injected faults on route ``graphql``."""

from __future__ import annotations

import time

import httpx
import pytest

from prmon_pipeline.fakehub import FaultSpec, World, sync_client
from prmon_pipeline_tests.fakehub.conftest import AppFactory, FakeClock
from prmon_pipeline_tests.fakehub.graphql_queries import JSON, main_query, main_variables

TOKEN = {"Authorization": "Bearer t1"}


def _batch(world: World, count: int) -> JSON:
    name = world.repository_names()[0]
    shas = [pr["head"]["sha"] for pr in world.pull_requests(name)[:count]]
    return {"query": main_query([count]), "variables": main_variables([(name, shas)])}


def test_rate_limited_when_the_cost_exceeds_what_is_left(
    world: World, make_app: AppFactory, clock: FakeClock
) -> None:
    app = make_app(graphql_rate_limit=10)
    big, small = _batch(world, 50), _batch(world, 1)  # 6 points, 1 point
    with sync_client(app, headers=TOKEN) as client:
        assert client.post("/graphql", json=big).json()["data"]["rateLimit"]["remaining"] == 4
        refused = client.post("/graphql", json=big)
        assert refused.status_code == 200
        assert refused.headers["x-ratelimit-remaining"] == "4"  # > 0: the query costs more
        body = refused.json()
        assert "data" not in body
        (error,) = body["errors"]
        assert error["type"] == "RATE_LIMITED"
        assert error["message"].startswith("API rate limit exceeded for user ID ")
        for _ in range(4):
            assert "errors" not in client.post("/graphql", json=small).json()
        exhausted = client.post("/graphql", json=small)
        assert exhausted.headers["x-ratelimit-remaining"] == "0"
        assert exhausted.json()["errors"][0]["type"] == "RATE_LIMITED"
        assert client.get(f"/repos/{world.repository_names()[0]}").status_code == 200  # core
        clock.advance(3600)
        assert client.post("/graphql", json=big).json()["data"]["rateLimit"]["remaining"] == 4
    assert app.state.hub.counters.graphql_rate_limited == 2


def test_secondary_limit_per_minute(world: World, make_app: AppFactory) -> None:
    app = make_app(graphql_secondary_per_minute=2)
    with sync_client(app, headers=TOKEN) as client:
        assert client.post("/graphql", json=_batch(world, 1)).status_code == 200
        assert client.post("/graphql", json=_batch(world, 1)).status_code == 200
        refused = client.post("/graphql", json=_batch(world, 1))
    assert refused.status_code == 403
    assert int(refused.headers["retry-after"]) >= 1
    assert "secondary rate limit" in refused.json()["message"]
    assert refused.headers["x-ratelimit-resource"] == "graphql"


def test_rest_and_graphql_count_in_separate_minutes(
    world: World, make_app: AppFactory, clock: FakeClock
) -> None:
    """GitHub's per-minute secondary limits are per endpoint (REST 900, GraphQL 2,000 a
    minute, GITHUB-API.md §5): a full REST minute leaves queries alone, and the reverse."""
    app = make_app(secondary_per_minute=1, graphql_secondary_per_minute=1)
    repository = f"/repos/{world.repository_names()[0]}"
    with sync_client(app, headers=TOKEN) as client:
        assert client.get(repository).status_code == 200
        assert client.post("/graphql", json=_batch(world, 1)).status_code == 200  # REST's is full
        graphql_refused = client.post("/graphql", json=_batch(world, 1))
        rest_refused = client.get(repository)
        clock.advance(60)
        assert client.post("/graphql", json=_batch(world, 1)).status_code == 200
        assert client.get(repository).status_code == 200
    assert graphql_refused.status_code == rest_refused.status_code == 403
    assert graphql_refused.headers["x-ratelimit-resource"] == "graphql"
    assert rest_refused.headers["x-ratelimit-resource"] == "core"
    assert app.state.hub.counters.secondary_limited == 2


def test_secondary_limit_on_concurrency(world: World, make_app: AppFactory) -> None:
    app = make_app(secondary_concurrency=0)  # this request alone is one too many
    with sync_client(app) as client:
        refused = client.post("/graphql", json=_batch(world, 1))
    assert (refused.status_code, refused.headers["retry-after"]) == (403, "60")


@pytest.mark.parametrize(("status", "html"), [(502, False), (504, False), (502, True)])
def test_large_query_times_out(world: World, make_app: AppFactory, status: int, html: bool) -> None:
    app = make_app(
        graphql_timeout_nodes=10_000, graphql_timeout_status=status, graphql_timeout_html=html
    )
    with sync_client(app, headers=TOKEN) as client:
        response = client.post("/graphql", json=_batch(world, 50))  # 50,500 declared nodes
        assert response.status_code == status
        if html:
            assert response.headers["content-type"].startswith("text/html")
        else:
            body = response.json()
            assert body["data"] is None
            assert body["errors"][0]["message"].startswith(
                "Something went wrong while executing your query. This may be the result of a "
                "timeout"
            )
        small = client.post("/graphql", json=_batch(world, 9))  # 9,090 nodes: within
        assert small.status_code == 200 and "errors" not in small.json()
    assert app.state.hub.rate_limit_remaining("t1", "graphql") == 5000 - 6 - 1  # timeout charged


def test_resource_limits_give_partial_data(world: World, make_app: AppFactory) -> None:
    app = make_app(graphql_resource_limit_nodes=5_000)
    with sync_client(app) as client:
        body = client.post("/graphql", json=_batch(world, 10)).json()  # 1,010 nodes per alias
    heads = body["data"]["r0"]
    assert all(heads[f"h{h}"] is not None for h in range(4))
    assert all(heads[f"h{h}"] is None for h in range(4, 10))
    assert [e["path"] for e in body["errors"]] == [["r0", f"h{h}"] for h in range(4, 10)]
    assert {e["message"] for e in body["errors"]} == {"Resource limits for this query exceeded."}
    assert {e["type"] for e in body["errors"]} == {"RESOURCE_LIMITS_EXCEEDED"}
    assert body["data"]["rateLimit"]["cost"] == 1


@pytest.mark.parametrize("kind", ["502", "html_502", "504"])
def test_injected_server_errors(world: World, make_app: AppFactory, kind: str) -> None:
    app = make_app()
    app.state.hub.faults.add(FaultSpec(route="graphql", kind=kind, count=1))
    with sync_client(app) as client:
        failed = client.post("/graphql", json=_batch(world, 1))
        assert failed.status_code == int(kind.removeprefix("html_"))
        assert client.get(f"/repos/{world.repository_names()[0]}").status_code == 200
        assert client.post("/graphql", json=_batch(world, 1)).status_code == 200
    assert app.state.hub.counters.faults == 1


def test_injected_reset_slow_and_malformed(world: World, make_app: AppFactory) -> None:
    app = make_app()
    faults = app.state.hub.faults
    with sync_client(app) as client:
        faults.add(FaultSpec(route="graphql", kind="reset", count=1))
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/graphql", json=_batch(world, 1))
        faults.add(FaultSpec(route="graphql", kind="slow", delay=0.05, count=1))
        started = time.monotonic()
        assert client.post("/graphql", json=_batch(world, 1)).status_code == 200
        assert time.monotonic() - started >= 0.05
        faults.add(FaultSpec(route="graphql", kind="malformed", count=1))
        broken = client.post("/graphql", json=_batch(world, 1))
        with pytest.raises(ValueError):
            broken.json()
