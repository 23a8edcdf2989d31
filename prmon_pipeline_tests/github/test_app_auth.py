"""GitHub App authentication end to end against fakehub: JWT, installation, installation token,
renewal before the hour ends, one token per owner shared by concurrent requests, clear errors,
and no key, JWT or token in any repr, message or log line."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from prmon_pipeline.core.discovery_plan import CheckRunTarget
from prmon_pipeline.core.errors import (
    AppCredentialError,
    ConfigurationError,
    PermissionDeniedError,
)
from prmon_pipeline.fakehub import World
from prmon_pipeline.fakehub.apps import AppSpec, Installation
from prmon_pipeline.github import installation
from prmon_pipeline.github.app_auth import (
    AppInstallationCredentials,
    app_credentials,
    load_app_credentials,
)
from prmon_pipeline.github.client import GitHubClient, GitHubConfig, request_subject
from prmon_pipeline.github.graphql import GraphQLCheckReader
from prmon_pipeline.github.graphql_requests import GraphQLChecks
from prmon_pipeline.github.installation import list_installation_repositories
from prmon_pipeline.github.listing import ORGANIZATION, OwnerListing, owner_lister
from prmon_pipeline_tests.github.app_keys import key_pair
from prmon_pipeline_tests.github.simulation import (
    API,
    FakeClock,
    Warehouse,
    delayed,
    discover,
    make_client,
    make_hub,
    small_world,
    sort_prs,
    truth_pull_requests,
)

APP_ID = 4242


def app_hub(world: Any, clock: FakeClock, *installations: Installation, **config: Any) -> Any:
    spec = AppSpec(key_pair().public_pem, installations or (Installation(7, "acme"),))
    return make_hub(world, clock, apps={APP_ID: spec}, require_auth=True, **config)


def app_client(app: Any, clock: FakeClock, app_id: str = str(APP_ID), key: str = "") -> Any:
    """A client of ``app`` with the test App's key; answers take a real moment (``delayed``),
    so concurrent requests do race for the token."""
    credentials = app_credentials(app_id, key or key_pair().private_pem)
    return GitHubClient(
        GitHubConfig(api_url=API, app=credentials),
        transport=httpx.ASGITransport(app=delayed(app)),
        sleep=clock.sleep,
        clock=clock.time,
    )


def minted(client: GitHubClient) -> int:
    assert isinstance(client.credentials, AppInstallationCredentials)
    return client.credentials.tokens_minted


def test_sync_through_an_installation_token_with_one_token_per_owner() -> None:
    world = small_world(repositories=3, prs_per_repository=30)
    clock = FakeClock()
    app = app_hub(world, clock)
    hub = app.state.hub

    async def scenario() -> None:
        async with app_client(app, clock) as client:
            names = world.repository_names()
            results = await asyncio.gather(
                *(discover(client, world, name, Warehouse(), mode="full") for name in names)
            )
            for name, result in zip(names, results, strict=True):
                assert sort_prs(result.pull_requests).equals(truth_pull_requests(world, name))
            assert minted(client) == 1  # nine concurrent walks, one token for acme
            assert len(hub.apps.tokens) == 1
            assert client.counters.rate_limit_remaining is not None
            (token,) = hub.apps.tokens
            assert hub.primary.bucket(token).limit == 5000  # 3 repositories: the base budget

    asyncio.run(scenario())


@dataclass
class OneRepository:
    """A one-repository world behind an App, with a fake clock; ``full`` walks it whole."""

    world: World = field(default_factory=lambda: small_world(repositories=1, prs_per_repository=5))
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.app = app_hub(self.world, self.clock)
        self.name = self.world.repository_names()[0]

    async def full(self, client: GitHubClient) -> Any:
        return await discover(client, self.world, self.name, Warehouse(), mode="full")


def test_the_token_is_renewed_five_minutes_before_its_hour_ends() -> None:
    one = OneRepository()

    async def scenario() -> None:
        async with app_client(one.app, one.clock) as client:
            await one.full(client)
            one.clock.now += 54 * 60
            await one.full(client)
            assert minted(client) == 1
            one.clock.now += 2 * 60  # 56 minutes: inside the last five
            pulls = f"repos/{one.name}/pulls"
            await asyncio.gather(*(client.get(pulls, context=one.name) for _ in range(6)))
            assert minted(client) == 2  # six requests at once, one renewal

    asyncio.run(scenario())


def test_a_token_refused_mid_run_is_replaced_once_and_the_request_repeated() -> None:
    one = OneRepository()

    async def scenario() -> None:
        async with app_client(one.app, one.clock) as client:
            await one.full(client)
            one.app.state.hub.apps.tokens.clear()  # revoked on GitHub's side
            result = await one.full(client)
            assert sort_prs(result.pull_requests).equals(truth_pull_requests(one.world, one.name))
            assert minted(client) == 2

    asyncio.run(scenario())


def test_an_expired_installation_token_is_bad_credentials_at_fakehub() -> None:
    world = small_world(repositories=1, prs_per_repository=2)
    clock = FakeClock()
    app = app_hub(world, clock)
    name = world.repository_names()[0]

    async def scenario() -> None:
        async with app_client(app, clock) as client:
            await client.get(f"repos/{name}/pulls", context=name)
            (token,) = app.state.hub.apps.tokens
        clock.now += 3601
        async with make_client(app, clock, token=token) as plain:
            with pytest.raises(PermissionDeniedError) as caught:
                await plain.get(f"repos/{name}/pulls", context=name)
        assert caught.value.http_status == 401
        assert token not in str(caught.value)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("installations", "app_id", "key", "expected"),
    [
        ((Installation(7, "globex"),), str(APP_ID), "", "is not installed on acme/"),
        ((Installation(7, "acme"),), "999", "", "GitHub App 999 does not exist"),
        ((Installation(7, "acme"),), str(APP_ID), "other", "refused the App's JWT"),
    ],
    ids=["no-installation", "unknown-app", "wrong-key"],
)
def test_app_failures_are_one_clear_line(
    installations: tuple[Installation, ...], app_id: str, key: str, expected: str
) -> None:
    world = small_world(repositories=1, prs_per_repository=2)
    clock = FakeClock()
    app = app_hub(world, clock, *installations)
    name = world.repository_names()[0]
    private = key_pair(key).private_pem if key else ""

    async def scenario() -> None:
        async with app_client(app, clock, app_id, private) as client:
            with pytest.raises(PermissionDeniedError) as caught:
                await client.get(f"repos/{name}/pulls", context=name)
        message = str(caught.value)
        assert expected in message
        assert "\n" not in message
        assert "BEGIN" not in message and "eyJ" not in message

    asyncio.run(scenario())


def test_a_repository_outside_the_selection_is_hidden() -> None:
    world = small_world(repositories=2, prs_per_repository=2)
    clock = FakeClock()
    first, second = world.repository_names()
    app = app_hub(world, clock, Installation(7, "acme", (first,)))

    async def scenario() -> None:
        async with app_client(app, clock) as client:
            await client.get(f"repos/{first}/pulls", context=first)
            with pytest.raises(PermissionDeniedError) as caught:
                await client.get(f"repos/{second}/pulls", context=second)
        assert caught.value.http_status == 404

    asyncio.run(scenario())


def test_installation_repositories_are_listed_across_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = small_world(repositories=5, prs_per_repository=1)
    clock = FakeClock()
    names = world.repository_names()
    app = app_hub(world, clock, Installation(7, "acme", tuple(names[:4])))
    monkeypatch.setitem(installation.INSTALLATION_REPOSITORIES_PARAMS, "per_page", 3)

    async def scenario() -> list[str]:
        async with app_client(app, clock) as client:
            found = await list_installation_repositories(client, "acme")
            assert client.counters.requests == 2  # two pages (the App's own requests aside)
            return [r.full_name for r in found]

    assert sorted(asyncio.run(scenario())) == sorted(names[:4])


def test_listing_installation_repositories_needs_an_app() -> None:
    world = small_world(repositories=1, prs_per_repository=1)
    clock = FakeClock()
    app = make_hub(world, clock)

    async def scenario() -> None:
        async with make_client(app, clock, token="ghp_x") as client:
            await list_installation_repositories(client, "acme")

    with pytest.raises(ConfigurationError, match="needs GitHub App authentication"):
        asyncio.run(scenario())


def test_no_key_jwt_or_token_reaches_reprs_messages_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = small_world(repositories=2, prs_per_repository=5)
    clock = FakeClock()
    app = app_hub(world, clock, Installation(7, "acme", (world.repository_names()[0],)))
    hidden = world.repository_names()[1]
    shown: list[str] = []
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with app_client(app, clock) as client:
            await discover(client, world, world.repository_names()[0], Warehouse(), mode="full")
            with pytest.raises(PermissionDeniedError) as caught:
                await client.get(f"repos/{hidden}/pulls", context=hidden)
            shown.extend([str(caught.value), repr(client.config), repr(client.credentials)])

    asyncio.run(scenario())
    (token,) = app.state.hub.apps.tokens
    private_body = key_pair().private_pem.splitlines()[1]
    text = "\n".join([*shown, caplog.text])
    assert "4242" in shown[1] or "4242" in shown[2]
    assert "GitHub App 4242: installation 7 (acme) token obtained" in caplog.text  # logs seen
    for secret in (token, private_body, "eyJ", "BEGIN RSA"):
        assert secret not in text


def test_app_settings_are_validated_in_one_line(tmp_path: Any) -> None:
    pem = key_pair().private_pem
    assert load_app_credentials({}) is None
    loaded = load_app_credentials(
        {"PRMON_GITHUB_APP_ID": "12", "PRMON_GITHUB_APP_PRIVATE_KEY": pem}
    )
    assert loaded is not None and loaded.app_id == "12"
    escaped = pem.replace("\n", "\\n")
    assert app_credentials("12", escaped).app_id == "12"
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    from_file = {"PRMON_GITHUB_APP_ID": "12", "PRMON_GITHUB_APP_PRIVATE_KEY_FILE": str(key_file)}
    assert load_app_credentials(from_file) is not None
    bad: list[tuple[dict[str, str], str]] = [
        ({"PRMON_GITHUB_APP_ID": "12"}, "needs PRMON_GITHUB_APP_PRIVATE_KEY"),
        ({"PRMON_GITHUB_APP_PRIVATE_KEY": pem}, "needs PRMON_GITHUB_APP_ID"),
        (
            {"PRMON_GITHUB_APP_ID": "12", "PRMON_GITHUB_APP_PRIVATE_KEY": "-----BEGIN junk"},
            "is not an unencrypted PEM RSA private key",
        ),
        (
            {"PRMON_GITHUB_APP_ID": "twelve", "PRMON_GITHUB_APP_PRIVATE_KEY": pem},
            "must be the App's numeric id",
        ),
        (
            {"PRMON_GITHUB_APP_ID": "12", "PRMON_GITHUB_APP_PRIVATE_KEY_FILE": "/nonexistent.pem"},
            "cannot read /nonexistent.pem",
        ),
        (
            {**from_file, "PRMON_GITHUB_APP_PRIVATE_KEY": pem},
            "not both",
        ),
    ]
    for env, expected in bad:
        with pytest.raises(ConfigurationError) as caught:
            load_app_credentials(env)
        assert expected in str(caught.value)
        assert "\n" not in str(caught.value) and pem.splitlines()[1] not in str(caught.value)
        error = caught.value  # no chained error shows a key's text either
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_a_request_names_its_owner_by_context_or_path() -> None:
    assert request_subject("https://x/repositories/5/pulls?page=2", "acme/one") == (
        "acme",
        "acme/one",
    )
    assert request_subject("repos/globex/two/pulls", "") == ("globex", "globex/two")
    assert request_subject("https://h/api/v3/repos/o/r/commits/abc/check-runs", "") == (
        "o",
        "o/r",
    )
    assert request_subject("installation/repositories", "acme") == ("acme", None)
    assert request_subject("rate_limit", "") == (None, None)


def test_with_an_app_an_owner_pattern_lists_what_the_installation_may_read() -> None:
    world = small_world(repositories=4, prs_per_repository=1)
    clock = FakeClock()
    names = world.repository_names()
    app = app_hub(world, clock, Installation(7, "acme", tuple(names[:3])))

    async def scenario() -> OwnerListing:
        async with app_client(app, clock) as client:
            return await owner_lister(client)("acme")

    found = asyncio.run(scenario())
    assert found.owner_type == ORGANIZATION  # from the listed repositories' owner
    assert sorted(r.full_name for r in found.repositories) == sorted(names[:3])
    assert {r.github_id for r in found.repositories} == {
        world.repository(name)["id"] for name in names[:3]
    }
    routes = app.state.hub.counters.by_route
    assert routes.get("installation_repositories") == 1 and "org_repos" not in routes


def test_without_an_app_an_owner_pattern_lists_the_organisation() -> None:
    world = small_world(repositories=2, prs_per_repository=1)
    clock = FakeClock()
    app = make_hub(world, clock)

    async def scenario() -> OwnerListing:
        async with make_client(app, clock, token="ghp_x") as client:
            return await owner_lister(client)("acme")

    found = asyncio.run(scenario())
    assert sorted(r.full_name for r in found.repositories) == sorted(world.repository_names())
    assert app.state.hub.counters.by_route == {"org_repos": 1}


def test_an_owner_without_the_app_does_not_turn_graphql_off_for_the_others() -> None:
    world = small_world(repositories=1, prs_per_repository=5, no_checks_fraction=0.0)
    clock = FakeClock()
    app = app_hub(world, clock)  # installed on acme only
    name = world.repository_names()[0]
    pr = world.pull_requests(name)[0]
    target = CheckRunTarget(pr["head"]["sha"], (pr["number"],), conditional=False)

    async def scenario() -> GraphQLChecks:
        async with app_client(app, clock) as client:
            reader = GraphQLCheckReader(client, linger_seconds=0)
            with pytest.raises(AppCredentialError, match="not installed"):
                await reader.read("elsewhere/gone", [target])
            found = await reader.read(name, [target])  # still by GraphQL
            assert reader.unavailable is None
            return found

    found = asyncio.run(scenario())
    assert found.read == (target.head_sha,) and found.check_runs.num_rows > 0
    assert app.state.hub.counters.graphql_queries == 1
