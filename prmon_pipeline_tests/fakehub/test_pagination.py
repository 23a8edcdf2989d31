"""Pulls and check-runs lists: orderings, defaults, Link headers, live pagination."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, sync_client


def walk(
    client: httpx.Client, url: str, params: dict[str, Any] | None = None
) -> list[httpx.Response]:
    pages = [client.get(url, params=params)]
    while "next" in pages[-1].links:
        pages.append(client.get(pages[-1].links["next"]["url"]))
    return pages


def test_walk_all_pages_equals_ground_truth(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    pages = walk(client, f"/repos/{name}/pulls", {"state": "all", "per_page": 25})
    assert len(pages) == 5 and all(p.status_code == 200 for p in pages)
    items = [item for page in pages for item in page.json()]
    assert items == world.pull_requests(name)  # created desc == number desc


def test_link_header_exact_form(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[1]
    repo_id = world.repository(name)["id"]
    base = f"http://fakehub.test/repositories/{repo_id}/pulls?state=all&per_page=25"
    first = client.get(f"/repos/{name}/pulls?state=all&per_page=25")
    assert first.headers["link"] == (f'<{base}&page=2>; rel="next", <{base}&page=5>; rel="last"')
    middle = client.get(f"/repos/{name}/pulls?state=all&page=3&per_page=25")
    base_page = f"http://fakehub.test/repositories/{repo_id}/pulls?state=all&page="
    assert middle.headers["link"] == (
        f'<{base_page}2&per_page=25>; rel="prev", <{base_page}4&per_page=25>; rel="next", '
        f'<{base_page}5&per_page=25>; rel="last", <{base_page}1&per_page=25>; rel="first"'
    )
    last = client.get(f"/repos/{name}/pulls?state=all&per_page=25&page=5")
    assert last.headers["link"] == f'<{base}&page=4>; rel="prev", <{base}&page=1>; rel="first"'
    single = client.get(f"/repos/{name}/pulls?state=open&per_page=100")
    assert "link" not in single.headers
    empty = client.get(f"/repos/{name}/pulls?head=nobody:nothing")
    assert empty.json() == [] and "link" not in empty.headers


def test_per_page_default_and_clamp(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    assert len(client.get(f"/repos/{name}/pulls?state=all").json()) == 30
    assert len(client.get(f"/repos/{name}/pulls?state=all&per_page=1000").json()) == 100
    assert len(client.get(f"/repos/{name}/pulls?state=all&per_page=abc").json()) == 30
    beyond = client.get(f"/repos/{name}/pulls?state=all&page=99")
    assert beyond.status_code == 200 and beyond.json() == []


def test_state_filters_and_direction_defaults(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    truth = world.pull_requests(name)
    url = f"/repos/{name}/pulls"
    opened = client.get(url, params={"per_page": 100}).json()
    assert opened == [p for p in truth if p["state"] == "open"]
    closed = client.get(url, params={"state": "closed", "per_page": 100}).json()
    assert closed == [p for p in truth if p["state"] == "closed"]
    by_updated = client.get(url, params={"sort": "updated", "per_page": 100}).json()
    stamps = [(p["updated_at"], p["number"]) for p in by_updated]
    assert stamps == sorted(stamps)  # asc is the default for every sort but created
    desc = client.get(url, params={"sort": "updated", "direction": "desc", "per_page": 100}).json()
    assert desc == by_updated[::-1]
    created_asc = client.get(url, params={"state": "all", "direction": "asc", "per_page": 100})
    assert [p["number"] for p in created_asc.json()] == list(range(1, 101))
    popular = client.get(url, params={"state": "all", "sort": "popularity", "per_page": 100}).json()
    assert [p["number"] for p in popular] != [p["number"] for p in created_asc.json()]
    assert client.get(url, params={"state": "bogus"}).status_code == 422
    assert client.get(url, params={"sort": "bogus"}).status_code == 422


def test_head_and_base_filters(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    pr = next(p for p in world.pull_requests(name) if p["head"]["label"] and p["state"] == "open")
    got = client.get(f"/repos/{name}/pulls", params={"head": pr["head"]["label"]}).json()
    assert pr in got and all(p["head"]["label"] == pr["head"]["label"] for p in got)
    assert client.get(f"/repos/{name}/pulls", params={"base": "other"}).json() == []


def test_sort_updated_desc_is_live(world: World, client: httpx.Client) -> None:
    """A PR updated between page fetches shifts the ordering: a duplicate appears."""
    name = world.repository_names()[0]
    params = {"state": "all", "sort": "updated", "direction": "desc", "per_page": 10}
    page1 = client.get(f"/repos/{name}/pulls", params=params)
    world.advance(5)
    moved = client.get(f"/repos/{name}/pulls", params={**params, "page": 5}).json()[0]
    world.apply_event(name, moved["number"], "label")
    page2 = client.get(page1.links["next"]["url"]).json()
    assert page2[0]["number"] == page1.json()[-1]["number"]  # seen twice
    fresh = client.get(f"/repos/{name}/pulls", params=params).json()
    assert fresh[0]["number"] == moved["number"]


def test_repositories_alias_and_case_insensitive_names(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    repo_id = world.repository(name)["id"]
    upper = client.get(f"/repos/{name.upper()}/pulls?state=all")
    alias = client.get(f"/repositories/{repo_id}/pulls?state=all")
    assert upper.json() == alias.json() == world.pull_requests(name)[:30]
    assert client.get(f"/repositories/{repo_id}").json()["full_name"] == name
    assert client.get(f"/repositories/{repo_id}/pulls/3").json()["number"] == 3


def _matrix_sha(world: World) -> tuple[str, str]:
    for name in world.repository_names():
        for pr in world.pull_requests(name):
            if len(world.check_runs(name, pr["head"]["sha"])) > 100:
                return name, pr["head"]["sha"]
    raise AssertionError("no matrix commit")


def test_check_runs_pagination_over_100(world: World, client: httpx.Client) -> None:
    name, sha = _matrix_sha(world)
    truth = world.check_runs(name, sha)
    pages = walk(
        client, f"/repos/{name}/commits/{sha}/check-runs", {"per_page": 100, "filter": "all"}
    )
    assert len(pages) == -(-len(truth) // 100) >= 2
    assert all(p.json()["total_count"] == len(truth) for p in pages)
    runs = [r for p in pages for r in p.json()["check_runs"]]
    assert runs == truth
    assert [r["id"] for r in runs] == sorted((r["id"] for r in runs), reverse=True)
    assert "filter=all" in pages[0].links["next"]["url"]
    assert f"/commits/{sha}/check-runs" in pages[0].links["next"]["url"]


def test_check_runs_filters(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    pr = next(
        p for p in world.pull_requests(name) if len(world.check_runs(name, p["head"]["sha"])) == 8
    )
    sha = pr["head"]["sha"]
    rerun = world.rerun_check_run(name, sha)
    url = f"/repos/{name}/commits/{sha}/check-runs"
    latest = client.get(url).json()
    everything = client.get(url, params={"filter": "all"}).json()
    assert everything["total_count"] == 9 and latest["total_count"] == 8
    assert everything["check_runs"] == world.check_runs(name, sha)
    assert rerun["id"] in [r["id"] for r in latest["check_runs"]]
    named = client.get(url, params={"filter": "all", "check_name": rerun["name"]}).json()
    assert named["total_count"] == 2 and {r["name"] for r in named["check_runs"]} == {rerun["name"]}
    queued = client.get(url, params={"status": "queued"}).json()
    assert rerun["id"] in [r["id"] for r in queued["check_runs"]]
    assert all(r["status"] == "queued" for r in queued["check_runs"])
    app_runs = client.get(url, params={"app_id": "15368", "filter": "all"}).json()
    assert all(r["app"]["id"] == 15368 for r in app_runs["check_runs"])
    assert client.get(url, params={"status": "waiting"}).status_code == 422
    assert client.get(url, params={"per_page": 3}).headers["link"].count("rel=") == 2


@pytest.mark.parametrize("ref", ["0" * 40, "heads/no-such-branch"])
def test_unknown_ref_is_422(world: World, client: httpx.Client, ref: str) -> None:
    name = world.repository_names()[0]
    response = client.get(f"/repos/{name}/commits/{ref}/check-runs")
    assert response.status_code == 422
    assert response.json()["message"].startswith("No commit found for SHA")


def test_check_runs_by_branch_and_single_run(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    pr = next(
        p
        for p in world.pull_requests(name)
        if p["state"] == "open"
        and p["head"]["repo"]
        and not p["head"]["repo"]["fork"]
        and world.check_runs(name, p["head"]["sha"])
    )
    by_branch = client.get(f"/repos/{name}/commits/heads/{pr['head']['ref']}/check-runs").json()
    by_sha = client.get(f"/repos/{name}/commits/{pr['head']['sha']}/check-runs").json()
    assert by_branch == by_sha
    run = by_sha["check_runs"][0]
    assert client.get(f"/repos/{name}/check-runs/{run['id']}").json() == run
    assert client.get(f"/repos/{name}/check-runs/{run['id'] + 4096 * 10**6}").status_code == 404


_FROZEN = World(WorldConfig(seed=3, repositories=1, prs_per_repository=75))


@settings(max_examples=40, deadline=None)
@given(
    per_page=st.integers(min_value=-5, max_value=150),
    state=st.sampled_from(["open", "closed", "all"]),
    sort=st.sampled_from(["created", "updated", "popularity"]),
    direction=st.sampled_from(["asc", "desc", None]),
)
def test_any_walk_returns_each_item_once(
    per_page: int, state: str, sort: str, direction: str | None
) -> None:
    name = _FROZEN.repository_names()[0]
    params: dict[str, Any] = {"state": state, "sort": sort, "per_page": per_page}
    if direction is not None:
        params["direction"] = direction
    with sync_client(create_app(_FROZEN, HubConfig(rate_limit=10**9))) as client:
        pages = walk(client, f"/repos/{name}/pulls", params)
    items = [i for p in pages for i in p.json()]
    truth = [p for p in _FROZEN.pull_requests(name) if state == "all" or p["state"] == state]
    assert sorted(i["number"] for i in items) == sorted(p["number"] for p in truth)
    size = per_page if 1 <= per_page <= 100 else (100 if per_page > 100 else 30)
    assert len(pages) == max(1, -(-len(truth) // size))
    assert all(len(p.json()) == size for p in pages[:-1])


def test_long_running_sort(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    got = client.get(f"/repos/{name}/pulls", params={"sort": "long-running", "per_page": 100})
    month_ago = world.now.timestamp() - 30 * 86400
    for pr in got.json():
        created = datetime.strptime(pr["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert pr["state"] == "open" and created.timestamp() < month_ago


def test_check_suite_runs(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    sha = next(
        p["head"]["sha"]
        for p in world.pull_requests(name)
        if len(world.check_runs(name, p["head"]["sha"])) == 8
    )
    runs = world.check_runs(name, sha)
    suite = runs[0]["check_suite"]["id"]
    got = client.get(f"/repos/{name}/check-suites/{suite}/check-runs?filter=all").json()
    assert got["check_runs"] == [r for r in runs if r["check_suite"]["id"] == suite]
    assert got["total_count"] == len(got["check_runs"]) >= 1
    assert client.get(f"/repos/{name}/check-suites/1/check-runs").status_code == 404
