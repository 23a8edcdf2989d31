"""Injected faults: every kind, per route, by count and by seeded rate."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from prmon_pipeline.fakehub import FaultSpec, World, sync_client
from prmon_pipeline_tests.fakehub.conftest import AppFactory


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_json_server_errors(world: World, make_app: AppFactory, kind: str) -> None:
    app = make_app()
    app.state.hub.faults.add(FaultSpec(route="pulls", kind=kind))
    name = world.repository_names()[0]
    with sync_client(app) as client:
        response = client.get(f"/repos/{name}/pulls")
        assert response.status_code == int(kind)
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert "message" in response.json()
        assert "x-ratelimit-remaining" in response.headers
        assert client.get(f"/repos/{name}").status_code == 200  # other routes unaffected
    assert app.state.hub.counters.faults == 1


@pytest.mark.parametrize("kind", ["html_500", "html_502", "html_503", "html_504"])
def test_html_server_errors(world: World, make_app: AppFactory, kind: str) -> None:
    app = make_app()
    app.state.hub.faults.add(FaultSpec(route="*", kind=kind))
    with sync_client(app) as client:
        response = client.get(f"/repos/{world.repository_names()[0]}")
        assert response.status_code == int(kind[5:])
        assert response.headers["content-type"].startswith("text/html")
        assert response.text.startswith("<!DOCTYPE html>")


def test_slow(world: World, make_app: AppFactory) -> None:
    app = make_app()
    app.state.hub.faults.add(FaultSpec(route="repo", kind="slow", delay=0.1))
    with sync_client(app) as client:
        started = time.monotonic()
        assert client.get(f"/repos/{world.repository_names()[0]}").status_code == 200
        assert time.monotonic() - started >= 0.1


def test_reset(world: World, make_app: AppFactory) -> None:
    app = make_app()
    app.state.hub.faults.add(FaultSpec(route="check_runs", kind="reset", count=1))
    name = world.repository_names()[0]
    sha = world.pull_requests(name)[0]["head"]["sha"]
    with sync_client(app) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"/repos/{name}/commits/{sha}/check-runs")
        assert client.get(f"/repos/{name}/commits/{sha}/check-runs").status_code == 200


@pytest.mark.parametrize("kind", ["truncated", "malformed"])
def test_broken_json(world: World, make_app: AppFactory, kind: str) -> None:
    app = make_app()
    app.state.hub.faults.add(FaultSpec(route="pull", kind=kind))
    with sync_client(app) as client:
        response = client.get(f"/repos/{world.repository_names()[0]}/pulls/1")
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)


def test_count_and_seeded_rate(world: World, make_app: AppFactory) -> None:
    url = f"/repos/{world.repository_names()[0]}"
    app = make_app()
    app.state.hub.faults.add(FaultSpec(kind="503", count=2))
    with sync_client(app) as client:
        assert [client.get(url).status_code for _ in range(4)] == [503, 503, 200, 200]
    outcomes = []
    for _ in range(2):
        seeded = make_app(fault_seed=42)
        seeded.state.hub.faults.add(FaultSpec(kind="500", rate=0.5))
        with sync_client(seeded) as client:
            outcomes.append([client.get(url).status_code for _ in range(40)])
    assert outcomes[0] == outcomes[1]
    assert 5 < outcomes[0].count(500) < 35


def test_fault_spec_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        FaultSpec(kind="418")
    with pytest.raises(ValueError, match="route"):
        FaultSpec(route="issues")
