"""The deliveries API client against a stand-in of GitHub's documented shapes (ASGI transport)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from prmon_pipeline.core.errors import GitHubError, PermissionDeniedError
from prmon_pipeline.core.webhook_recovery import HookScope
from prmon_pipeline.github.app_auth import app_credentials
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.github.webhook_deliveries import (
    AppJwtCredentials,
    list_attempts_since,
    redeliver,
)
from prmon_pipeline_tests.github.app_keys import key_pair
from prmon_pipeline_tests.github.deliveries_standin import BASE, DeliveriesStandIn

REPO_HOOK = "repos/acme/widgets/hooks/12"


def client(standin: DeliveriesStandIn, **kw: object) -> GitHubClient:
    return GitHubClient(
        GitHubConfig(api_url=BASE, token="t0ken", max_retries=0),
        transport=httpx.ASGITransport(app=standin.asgi()),
        **kw,  # type: ignore[arg-type]
    )


def test_lists_pages_by_link_cursor_until_the_checkpoint() -> None:
    standin = DeliveriesStandIn()
    for n in range(250):  # one attempt a minute, newest first
        standin.attempt(REPO_HOOK, f"g{n}", minutes_ago=n)
    scope = HookScope.repository("acme/widgets", 12)

    async def scenario() -> int:
        async with client(standin) as github:
            attempts = await list_attempts_since(
                github, scope, standin.now - timedelta(minutes=150)
            )
            return len(attempts)

    assert asyncio.run(scenario()) == 200  # two pages: the second reaches back past 150 min
    assert standin.requests == [
        f"GET /{REPO_HOOK}/deliveries?per_page=100",
        f"GET /{REPO_HOOK}/deliveries?per_page=100&cursor=100",
    ]


def test_the_last_page_ends_the_listing() -> None:
    standin = DeliveriesStandIn()
    for n in range(3):
        standin.attempt("orgs/acme/hooks/3", f"g{n}", minutes_ago=n)

    async def scenario() -> int:
        async with client(standin) as github:
            scope = HookScope.organization("acme", 3)
            return len(await list_attempts_since(github, scope, standin.now - timedelta(days=1)))

    assert asyncio.run(scenario()) == 3


def test_redeliver_posts_an_attempt_and_github_adds_one_with_the_same_guid() -> None:
    standin = DeliveriesStandIn()
    failed = standin.attempt(REPO_HOOK, "lost", 5, "failed to connect", 0)
    scope = HookScope.repository("acme/widgets", 12)

    async def scenario() -> None:
        async with client(standin) as github:
            [attempt] = await list_attempts_since(github, scope, standin.now - timedelta(hours=1))
            await redeliver(github, scope, attempt)

    asyncio.run(scenario())
    assert standin.requests[-1] == f"POST /{REPO_HOOK}/deliveries/{failed['id']}/attempts"
    newest = standin.hooks[REPO_HOOK][0]
    assert (newest["guid"], newest["redelivery"], newest["status"]) == ("lost", True, "OK")


def test_the_app_hook_takes_the_apps_jwt_and_refuses_a_token() -> None:
    keys = key_pair("webhook-app")
    standin = DeliveriesStandIn(app_public_key=keys.public_pem, app_id="4321")
    standin.attempt("app/hook", "g", 1, "failed to connect", 0)
    app = app_credentials("4321", keys.private_pem)
    assert keys.private_pem not in repr(AppJwtCredentials(app))

    async def scenario() -> None:
        async with client(standin, credentials=AppJwtCredentials(app)) as github:
            [attempt] = await list_attempts_since(
                github, HookScope.app(), standin.now - timedelta(hours=1)
            )
            await redeliver(github, HookScope.app(), attempt)
        async with client(standin) as github:
            with pytest.raises(PermissionDeniedError, match="401"):
                await list_attempts_since(github, HookScope.app(), standin.now)

    asyncio.run(scenario())
    assert standin.hooks["app/hook"][0]["redelivery"] is True


def test_an_unusable_page_is_one_clear_error() -> None:
    standin = DeliveriesStandIn()
    standin.hooks[REPO_HOOK] = [{"id": "x", "guid": 1}]

    async def scenario() -> None:
        async with client(standin) as github:
            scope = HookScope.repository("acme/widgets", 12)
            await list_attempts_since(github, scope, standin.now)

    with pytest.raises(GitHubError, match="repo acme/widgets hook 12: unusable delivery item"):
        asyncio.run(scenario())
