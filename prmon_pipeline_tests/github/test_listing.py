"""An owner's repositories against fakehub in memory: Link pages followed (never built), the
organisation endpoint first and the user endpoint on its 404, unknown owners refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prmon_pipeline.core.errors import MalformedResponseError, PermissionDeniedError
from prmon_pipeline.fakehub import World, WorldConfig
from prmon_pipeline.github.listing import (
    ORGANIZATION,
    USER,
    OwnerListing,
    list_owner_repositories,
    listing_from_items,
    rest_lister,
)
from prmon_pipeline_tests.github.simulation import FakeClock, make_client, make_hub


def listing(world: World, owner: str) -> tuple[OwnerListing, Any]:
    clock = FakeClock()
    app = make_hub(world, clock, rate_limit=10**6)

    async def run() -> OwnerListing:
        async with make_client(app, clock) as client:
            return await rest_lister(client)(owner)

    return asyncio.run(run()), app.state.hub.counters


def test_an_organisation_of_230_repositories_takes_three_requests() -> None:
    world = World(WorldConfig(seed=3, repositories=230, prs_per_repository=1))
    world.archive_repository(world.repository_names()[5])
    world.create_repository("upstream-fork", fork=True)
    found, counters = listing(world, "acme")
    assert found.owner_type == ORGANIZATION
    assert {r.full_name for r in found.repositories} == set(world.repository_names())
    flags = {r.full_name: (r.archived, r.fork) for r in found.repositories}
    assert flags[world.repository_names()[5]] == (True, False)
    assert flags["acme/upstream-fork"] == (False, True)
    ids = {r.full_name: r.github_id for r in found.repositories}
    assert ids["acme/upstream-fork"] == world.repository("acme/upstream-fork")["id"]
    assert counters.total == 3
    assert counters.by_route == {"org_repos": 3}  # pages 2 and 3 via /organizations/{id}/repos


def test_a_user_account_is_listed_by_the_user_endpoint() -> None:
    world = World(WorldConfig(seed=3, repositories=3, prs_per_repository=30, fork_fraction=0.6))
    user = next(iter(world.pop.forks.values())).owner.login
    found, counters = listing(world, user)
    assert found.owner_type == USER and found.repositories
    assert all(r.fork and r.key.owner == user for r in found.repositories)
    assert counters.by_route == {"org_repos": 1, "user": 1, "user_repos": 1}


def test_an_unknown_owner_is_refused_as_not_found() -> None:
    world = World(WorldConfig(seed=3, repositories=1, prs_per_repository=1))
    with pytest.raises(
        PermissionDeniedError, match="nobody-here: no GitHub organisation"
    ) as caught:
        listing(world, "nobody-here")
    assert caught.value.http_status == 404


def test_installation_items_become_the_owners_listing() -> None:
    items = [
        {"id": 1, "full_name": "acme/a", "archived": False, "fork": False},
        {"id": 2, "full_name": "other/b", "archived": False, "fork": False},
        {"id": 1, "full_name": "acme/a", "archived": False, "fork": False},  # page overlap
    ]
    found = listing_from_items("ACME", ORGANIZATION, items)
    assert [r.full_name for r in found.repositories] == ["acme/a"]
    with pytest.raises(MalformedResponseError, match="ACME: "):
        listing_from_items("ACME", ORGANIZATION, [{"id": 3}])


def test_the_walk_uses_the_client_directly() -> None:
    world = World(WorldConfig(seed=3, repositories=2, prs_per_repository=1))
    clock = FakeClock()

    async def run() -> OwnerListing:
        async with make_client(make_hub(world, clock), clock) as client:
            return await list_owner_repositories(client, "Acme")

    assert len(asyncio.run(run()).repositories) == 2  # logins match case-insensitively
