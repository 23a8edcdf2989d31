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


def test_no_commit_fails_one_shas_check_runs_like_github(
    world: World, make_app: AppFactory
) -> None:
    """GitHub's answer for a commit gone after a force-push: 422 on every page, that SHA only."""
    app = make_app()
    name = world.repository_names()[0]
    gone, other = (pr["head"]["sha"] for pr in world.pull_requests(name)[:2])
    app.state.hub.faults.add(FaultSpec(route="check_runs", kind="no_commit", ref=gone))
    with sync_client(app) as client:
        response = client.get(f"/repos/{name}/commits/{gone}/check-runs", params={"page": 2})
        assert response.status_code == 422
        assert response.json() == {
            "message": f"No commit found for SHA: {gone}",
            "documentation_url": (
                "https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference"
            ),
            "status": "422",
        }
        assert "x-ratelimit-remaining" in response.headers  # and it costs a unit, like GitHub
        assert client.get(f"/repos/{name}/commits/{other}/check-runs").status_code == 200
        assert client.get(f"/repos/{name}/pulls").status_code == 200
        # Repeats: a gone commit stays gone.
        assert client.get(f"/repos/{name}/commits/{gone}/check-runs").status_code == 422
    assert app.state.hub.counters.faults == 2


def test_an_unknown_sha_gets_the_same_422(world: World, make_app: AppFactory) -> None:
    app = make_app()
    name, sha = world.repository_names()[0], "0" * 40
    with sync_client(app) as client:
        response = client.get(f"/repos/{name}/commits/{sha}/check-runs")
    assert response.status_code == 422
    assert response.json()["message"] == f"No commit found for SHA: {sha}"
    assert response.json()["documentation_url"].endswith("#list-check-runs-for-a-git-reference")


def test_a_404_for_one_pull_request(world: World, make_app: AppFactory) -> None:
    app = make_app()
    name = world.repository_names()[0]
    number = world.pull_requests(name)[0]["number"]
    app.state.hub.faults.add(FaultSpec(route="pull", kind="404", ref=str(number)))
    with sync_client(app) as client:
        response = client.get(f"/repos/{name}/pulls/{number}")
        assert (response.status_code, response.json()["message"]) == (404, "Not Found")
        other = world.pull_requests(name)[1]["number"]
        assert client.get(f"/repos/{name}/pulls/{other}").status_code == 200
