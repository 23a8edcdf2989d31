"""Fidelity: every route's body validates against the reality-adjusted schemas and carries the
keys real responses carry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from prmon_pipeline.fakehub import FaultSpec, HubConfig, World, WorldConfig, create_app, sync_client
from prmon_pipeline_tests.core.corpus import CORPUS, SCHEMAS

pytestmark = pytest.mark.slow  # an evolved world, every route validated: ~8 s

ADJUSTED = SCHEMAS / "reality-adjusted"


def validator(path: Path, ref: str | None = None) -> Draft202012Validator:
    schema: dict[str, Any] = json.loads(path.read_text())
    if ref is not None:
        schema = {"$ref": f"#/$defs/{ref}", "$defs": schema["$defs"]}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(v: Draft202012Validator, doc: object) -> None:
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]


@pytest.fixture(scope="module")
def evolved() -> World:
    config = WorldConfig(
        seed=11, repositories=2, prs_per_repository=50, matrix_fraction=0.05, events_per_hour=3
    )
    world = World(config)
    world.advance(4 * 3600)
    world.advance(15 * 86400)  # stale runs appear
    world.advance(600)
    return world


@pytest.fixture(scope="module")
def client(evolved: World) -> Iterator[httpx.Client]:
    with sync_client(create_app(evolved, HubConfig(rate_limit=10**9))) as module_client:
        yield module_client


def test_pull_lists_validate(evolved: World, client: httpx.Client) -> None:
    v = validator(ADJUSTED / "pulls-list-response.schema.json")
    for name in evolved.repository_names():
        for params in ({"state": "all", "per_page": 100}, {"sort": "updated"}, {"state": "closed"}):
            response = client.get(f"/repos/{name}/pulls", params=params)
            assert_valid(v, response.json())
        assert_valid(v, evolved.pull_requests(name))


def test_single_pulls_validate(evolved: World, client: httpx.Client) -> None:
    v = validator(ADJUSTED / "pull-request.schema.json")
    for name in evolved.repository_names():
        for pr in evolved.pull_requests(name):
            assert_valid(v, client.get(f"/repos/{name}/pulls/{pr['number']}").json())


def test_check_runs_validate(evolved: World, client: httpx.Client) -> None:
    v_list = validator(ADJUSTED / "check-runs-list-response.schema.json")
    v_run = validator(ADJUSTED / "check-run.schema.json")
    seen: set[str] = set()
    for name in evolved.repository_names():
        for pr in evolved.pull_requests(name):
            url = f"/repos/{name}/commits/{pr['head']['sha']}/check-runs"
            response = client.get(url, params={"filter": "all", "per_page": 100})
            assert response.status_code == 200, response.text[:300]
            body = response.json()
            assert_valid(v_list, body)
            assert_valid(v_list, client.get(url).json())
            for run in body["check_runs"][:2]:
                assert_valid(v_run, client.get(f"/repos/{name}/check-runs/{run['id']}").json())
                suite = run["check_suite"]["id"]
                assert_valid(
                    v_list, client.get(f"/repos/{name}/check-suites/{suite}/check-runs").json()
                )
            seen.update(r["conclusion"] for r in body["check_runs"] if r["conclusion"])
    assert "stale" in seen and "startup_failure" in seen


def test_repository_rate_limit_and_errors_validate(evolved: World, client: httpx.Client) -> None:
    repo = validator(ADJUSTED / "pull-request.schema.json", ref="repository")
    for name in evolved.repository_names():
        assert_valid(repo, client.get(f"/repos/{name}").json())
    assert_valid(
        validator(SCHEMAS / "rate-limit-overview.schema.json"), client.get("/rate_limit").json()
    )
    error = validator(SCHEMAS / "basic-error.schema.json")
    name = evolved.repository_names()[0]
    for path in (
        "/repos/acme/none",
        f"/repos/{name}/pulls?state=x",
        f"/repos/{name}/commits/zz/check-runs",
    ):
        response = client.get(path)
        assert response.status_code in (404, 422)
        assert_valid(error, response.json())
    app = create_app(evolved, HubConfig(rate_limit=1))
    app.state.hub.faults.add(FaultSpec(kind="500", count=1))
    with sync_client(app) as limited:
        assert_valid(error, limited.get(f"/repos/{name}").json())
        assert_valid(error, limited.get(f"/repos/{name}").json())


def _modern_keys(items: list[dict[str, Any]]) -> set[str]:
    return set.intersection(*(set(i) for i in items))


def test_keys_match_recorded_bodies(evolved: World) -> None:
    name = evolved.repository_names()[0]
    ours = evolved.pull_requests(name)
    recorded = json.loads(
        (CORPUS / "pulls" / "list" / "hub4j-pulls-first-time-contributor-2022.json").read_text()
    )
    assert set(recorded[0]) <= _modern_keys(ours)
    assert set(recorded[0]["head"]["repo"]) <= set(ours[0]["base"]["repo"])
    assert set(recorded[0]["user"]) == set(ours[0]["user"])
    runs = json.loads(
        (CORPUS / "checks" / "list" / "hub4j-check-runs-check_name-filter-2023.json").read_text()
    )
    ours_runs = [r for p in ours for r in evolved.check_runs(name, p["head"]["sha"])]
    assert set(runs["check_runs"][0]) == _modern_keys(ours_runs)
    assert set(runs["check_runs"][0]["output"]) == set(ours_runs[0]["output"])
    assert set(runs["check_runs"][0]["app"]) == set(ours_runs[0]["app"])
