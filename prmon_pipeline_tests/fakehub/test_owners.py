"""Accounts and their repository listings: Link pagination over >100 repositories, the
organisation/user split, and repositories created, archived and deleted while a test runs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, sync_client
from prmon_pipeline_tests.core.corpus import SCHEMAS
from prmon_pipeline_tests.fakehub.test_schemas import assert_valid, validator

ORG = "acme"


@pytest.fixture(scope="module")
def big() -> World:
    return World(WorldConfig(seed=3, repositories=230, prs_per_repository=2, fork_fraction=0.5))


@pytest.fixture(scope="module")
def client(big: World) -> Iterator[httpx.Client]:
    with sync_client(create_app(big, HubConfig(rate_limit=10**6))) as module_client:
        yield module_client


def walk(client: httpx.Client, url: str, params: dict[str, object]) -> list[httpx.Response]:
    pages = [client.get(url, params=params)]
    while "next" in pages[-1].links:
        pages.append(client.get(pages[-1].links["next"]["url"]))
    return pages


def test_an_org_listing_of_230_repositories_is_three_linked_pages(
    big: World, client: httpx.Client
) -> None:
    pages = walk(client, f"/orgs/{ORG}/repos", {"type": "all", "per_page": 100})
    assert [len(p.json()) for p in pages] == [100, 100, 30]
    assert all(p.status_code == 200 and p.headers["etag"] for p in pages)
    names = [item["full_name"] for page in pages for item in page.json()]
    assert sorted(names) == sorted(big.repository_names())
    org_id = client.get(f"/orgs/{ORG}").json()["id"]
    base = f"http://fakehub.test/organizations/{org_id}/repos?type=all&per_page=100&page="
    assert pages[0].headers["link"] == f'<{base}2>; rel="next", <{base}3>; rel="last"'
    assert pages[2].headers["link"] == f'<{base}2>; rel="prev", <{base}1>; rel="first"'


def test_items_are_repository_objects_with_their_flags(big: World, client: httpx.Client) -> None:
    first = client.get(f"/orgs/{ORG}/repos", params={"per_page": 1}).json()[0]
    assert first == {k: v for k, v in big.repository(first["full_name"]).items() if k in first}
    assert {"id", "full_name", "owner", "archived", "fork", "private"} <= first.keys()
    assert first["owner"]["type"] == "Organization"


def test_defaults_caps_sort_and_type(client: httpx.Client) -> None:
    assert len(client.get(f"/orgs/{ORG}/repos").json()) == 30
    assert len(client.get(f"/orgs/{ORG}/repos", params={"per_page": 500}).json()) == 100
    created = [r["created_at"] for r in client.get(f"/orgs/{ORG}/repos").json()]
    assert created == sorted(created, reverse=True)  # newest first by default
    names = [
        r["full_name"].lower()
        for r in client.get(f"/orgs/{ORG}/repos", params={"sort": "full_name"}).json()
    ]
    assert names == sorted(names)
    assert client.get(f"/orgs/{ORG}/repos", params={"type": "forks"}).json() == []
    assert client.get(f"/orgs/{ORG}/repos", params={"page": 9, "per_page": 100}).json() == []


def test_a_user_has_no_org_endpoints_but_lists_its_forks(big: World, client: httpx.Client) -> None:
    user = next(iter(big.pop.forks.values())).owner.login  # a contributor who forked
    assert client.get(f"/orgs/{user}/repos").status_code == 404
    assert client.get(f"/orgs/{user}").status_code == 404
    account = client.get(f"/users/{user}").json()
    assert account["type"] == "User" and account["login"] == user
    forks = client.get(f"/users/{user}/repos").json()
    assert forks and all(r["fork"] and r["owner"]["login"] == user for r in forks)
    assert client.get(f"/users/{ORG}").json()["type"] == "Organization"
    assert client.get("/users/nobody-here/repos").status_code == 404
    assert client.get("/organizations/1/repos").status_code == 404


def test_repositories_created_archived_and_deleted_show_at_once() -> None:
    world = World(WorldConfig(seed=4, repositories=2, prs_per_repository=3))
    with sync_client(create_app(world, HubConfig())) as client:
        first = client.get(f"/orgs/{ORG}/repos")
        created = world.create_repository("mirror-of-upstream", fork=True)
        assert created["fork"] and created["full_name"] == f"{ORG}/mirror-of-upstream"
        assert client.get(f"/repos/{ORG}/mirror-of-upstream").json()["id"] == created["id"]
        gone = world.repository_names()[0]
        world.archive_repository(world.repository_names()[1])
        world.delete_repository(gone)
        second = client.get(f"/orgs/{ORG}/repos", headers={"if-none-match": first.headers["etag"]})
        assert second.status_code == 200
        listed = {r["full_name"]: (r["archived"], r["fork"]) for r in second.json()}
        assert listed == {
            world.repository_names()[0]: (True, False),
            f"{ORG}/mirror-of-upstream": (False, True),
        }
        assert client.get(f"/repos/{gone}").status_code == 404
        third = client.get(f"/orgs/{ORG}/repos", headers={"if-none-match": second.headers["etag"]})
        assert third.status_code == 304
        with pytest.raises(ValueError, match="exists"):
            world.create_repository("mirror-of-upstream")


def test_listings_and_accounts_validate_against_githubs_schemas(
    big: World, client: httpx.Client
) -> None:
    listing = validator(SCHEMAS / "repos-list-response.schema.json")
    big.archive_repository(big.repository_names()[0])
    user = next(iter(big.pop.forks.values())).owner.login
    for url in (f"/orgs/{ORG}/repos", f"/users/{ORG}/repos", f"/users/{user}/repos"):
        for page in walk(client, url, {"per_page": 100}):
            assert_valid(listing, page.json())
    account = validator(SCHEMAS / "public-user.schema.json")
    for login in (ORG, user):
        assert_valid(account, client.get(f"/users/{login}").json())
