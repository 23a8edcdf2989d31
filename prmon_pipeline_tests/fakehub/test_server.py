"""The real server: uvicorn on a free loopback port, the standalone entry point."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest

from prmon_pipeline.fakehub import FaultSpec, HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline_tests.fakehub.graphql_queries import (
    rest_as_graphql,
    runs_by_graphql,
    runs_by_rest,
)

pytestmark = pytest.mark.servers


def test_serve_on_loopback() -> None:
    world = World(WorldConfig(seed=2, repositories=1, prs_per_repository=70))
    app = create_app(world, HubConfig())
    name = world.repository_names()[0]
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        assert base_url.startswith("http://127.0.0.1:")
        page = client.get(f"/repos/{name}/pulls", params={"state": "all"})
        items = page.json()
        while "next" in page.links:
            page = client.get(page.links["next"]["url"])
            items += page.json()
        assert items == world.pull_requests(name)
        etag = page.headers["etag"]
        assert client.get(page.url, headers={"If-None-Match": etag}).status_code == 304
        app.state.hub.faults.add(FaultSpec(route="repo", kind="reset", count=1))
        with pytest.raises(httpx.TransportError):
            client.get(f"/repos/{name}")
        assert client.get(f"/repos/{name}").status_code == 200
        app.state.hub.faults.add(FaultSpec(route="repo", kind="truncated", count=1))
        assert client.get(f"/repos/{name}").status_code == 200


def test_serve_ghes_base_url() -> None:
    world = World(WorldConfig(seed=2, repositories=1, prs_per_repository=5))
    with serve(create_app(world, HubConfig(ghes=True))) as base_url:
        assert base_url.endswith("/api/v3")
        response = httpx.get(f"{base_url}/repos/{world.repository_names()[0]}/pulls")
        assert response.status_code == 200 and len(response.json()) > 0


def test_module_entry_point_serves() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prmon_pipeline.fakehub",
            "--repos",
            "2",
            "--prs",
            "10",
            "--tick",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 5
        while True:
            try:
                response = httpx.get(f"{url}/rate_limit")
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
        assert response.status_code == 200
        assert httpx.get(f"{url}/repos/acme/Widgets-0/pulls").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_advance_while_serving() -> None:
    """A thread evolving the world while pages are served never breaks a response."""
    world = World(WorldConfig(seed=4, repositories=2, prs_per_repository=150, events_per_hour=300))
    app = create_app(world, HubConfig())
    stop = threading.Event()

    def evolve() -> None:
        while not stop.wait(0.005):
            world.advance(30)

    thread = threading.Thread(target=evolve)
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        thread.start()
        try:
            for _ in range(3):
                for name in world.repository_names():
                    params = {"state": "all", "sort": "updated", "direction": "desc"}
                    page = client.get(f"/repos/{name}/pulls", params=params)
                    while "next" in page.links:
                        assert page.status_code == 200 and page.json()
                        page = client.get(page.links["next"]["url"])
        finally:
            stop.set()
            thread.join()
    assert world.version > 0


def test_graphql_over_http_matches_rest() -> None:
    world = World(WorldConfig(seed=2, repositories=1, prs_per_repository=30))
    name = world.repository_names()[0]
    shas = [pr["head"]["sha"] for pr in world.pull_requests(name)[:10]]
    with (
        serve(create_app(world, HubConfig())) as base_url,
        httpx.Client(base_url=base_url) as client,
    ):
        response = client.post("/graphql", json={"query": "{ rateLimit { cost } }"})
        assert response.headers["x-ratelimit-resource"] == "graphql"
        by_graphql = runs_by_graphql(client, name, shas)
        for sha in shas:
            expected = [rest_as_graphql(r) for r in runs_by_rest(client, name, sha)]
            assert sorted(by_graphql[sha], key=lambda r: r["databaseId"]) == sorted(
                expected, key=lambda r: r["databaseId"]
            )
    with serve(create_app(world, HubConfig(ghes=True))) as base_url:
        graphql_url = base_url.removesuffix("/v3") + "/graphql"
        assert httpx.post(graphql_url, json={"query": "{ rateLimit { cost } }"}).status_code == 200
