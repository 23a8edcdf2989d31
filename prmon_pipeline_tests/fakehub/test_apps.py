"""fakehub's GitHub Apps: JWT checks on the hub's clock, installation lookups, installation
tokens (201 shape, one-hour life), their budget (5,000 + 50 per repository over 20, at most
12,500) and the routes a credential may not use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, sync_client
from prmon_pipeline.fakehub.apps import (
    AppSpec,
    Installation,
    apps_from_arguments,
    installation_budget,
)
from prmon_pipeline_tests.github.app_keys import key_pair

NOW = 1_767_225_600
APP_ID = 77


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


OPENED: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def hub_client(
    repositories: int = 3, *installations: Installation, clock: Clock | None = None
) -> tuple[httpx.Client, World, Clock]:
    clock = clock or Clock()
    world = World(WorldConfig(seed=3, repositories=repositories, prs_per_repository=1))
    spec = AppSpec(key_pair().public_pem, installations or (Installation(9, "acme"),))
    app = create_app(world, HubConfig(clock=clock, apps={APP_ID: spec}))
    OPENED.append(sync_client(app, base_url="http://hub.test"))
    return OPENED[-1], world, clock


def app_jwt(
    iat: int = NOW - 60, exp: int = NOW + 540, iss: Any = str(APP_ID), key: str = ""
) -> str:
    claims = {"iat": iat, "exp": exp, "iss": iss}
    return jwt.encode(claims, key or key_pair().private_pem, algorithm="RS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def installation_token(client: httpx.Client, installation: int = 9) -> dict[str, Any]:
    response = client.post(
        f"/app/installations/{installation}/access_tokens", headers=bearer(app_jwt())
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_installation_lookups_and_the_token_answer() -> None:
    client, world, _ = hub_client()
    name = world.repository_names()[0]
    for path in (f"/repos/{name}/installation", "/orgs/acme/installation"):
        found = client.get(path, headers=bearer(app_jwt()))
        assert found.status_code == 200
        assert found.json()["id"] == 9 and found.json()["app_id"] == APP_ID
    assert client.get("/orgs/globex/installation", headers=bearer(app_jwt())).status_code == 404
    assert client.get("/users/globex/installation", headers=bearer(app_jwt())).status_code == 404
    body = installation_token(client)
    assert set(body) == {"token", "expires_at", "permissions", "repository_selection"}
    assert body["token"].startswith("ghs_")
    assert body["expires_at"] == "2026-01-01T01:00:00Z"
    assert body["repository_selection"] == "all"
    assert body["permissions"] == {"checks": "read", "metadata": "read", "pull_requests": "read"}
    unknown = client.post("/app/installations/10/access_tokens", headers=bearer(app_jwt()))
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (app_jwt(exp=NOW + 601), "'Expiration time' claim ('exp') is too far in the future"),
        (app_jwt(iat=NOW - 700, exp=NOW - 1), "'Expiration time' claim ('exp') must be"),
        (app_jwt(iat=NOW + 120), "'Issued at' claim ('iat') must be an Integer"),
        (app_jwt(iss="78"), "Integration not found"),
        (app_jwt(key=key_pair("stranger").private_pem), "A JSON web token could not be decoded"),
        ("not.a.jwt", "A JSON web token could not be decoded"),
        ("ghp_personal", "A JSON web token could not be decoded"),
    ],
    ids=["exp-too-far", "expired", "iat-future", "unknown-app", "wrong-key", "garbage", "pat"],
)
def test_bad_jwts_are_refused_with_githubs_message(token: str, message: str) -> None:
    client, _, _ = hub_client()
    response = client.post("/app/installations/9/access_tokens", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["message"].startswith(message)


def test_a_jwt_reads_no_repository_and_a_token_lives_one_hour() -> None:
    client, world, clock = hub_client()
    name = world.repository_names()[0]
    assert client.get(f"/repos/{name}/pulls", headers=bearer(app_jwt())).status_code == 401
    token = installation_token(client)["token"]
    assert client.get(f"/repos/{name}/pulls", headers=bearer(token)).status_code == 200
    clock.now += 3599
    assert client.get(f"/repos/{name}/pulls", headers=bearer(token)).status_code == 200
    clock.now += 1
    expired = client.get(f"/repos/{name}/pulls", headers=bearer(token))
    assert expired.status_code == 401 and expired.json()["message"] == "Bad credentials"
    forged = client.get(f"/repos/{name}/pulls", headers=bearer("ghs_" + "x" * 36))
    assert forged.status_code == 401


@pytest.mark.parametrize(("repositories", "budget"), [(3, 5000), (20, 5000), (31, 5550)])
def test_an_installation_token_gets_the_installation_budget(repositories: int, budget: int) -> None:
    client, world, _ = hub_client(repositories)
    token = installation_token(client)["token"]
    name = world.repository_names()[0]
    response = client.get(f"/repos/{name}/pulls", headers=bearer(token))
    assert response.headers["x-ratelimit-limit"] == str(budget)
    assert response.headers["x-ratelimit-remaining"] == str(budget - 1)
    assert response.headers["x-ratelimit-resource"] == "core"
    plain = client.get(f"/repos/{name}/pulls", headers=bearer("ghp_personal"))
    assert plain.headers["x-ratelimit-limit"] == "5000"


def test_the_budget_formula_is_capped() -> None:
    assert [installation_budget(n) for n in (0, 20, 21, 100, 170, 171, 5000)] == [
        5000,
        5000,
        5050,
        9000,
        12_500,
        12_500,
        12_500,
    ]


def test_installation_repositories_are_paginated_with_link() -> None:
    client, world, _ = hub_client(
        5, Installation(9, "acme", None), Installation(10, "globex", ("globex/none",))
    )
    token = installation_token(client)["token"]
    first = client.get("/installation/repositories?per_page=2", headers=bearer(token))
    assert first.status_code == 200
    body = first.json()
    assert body["total_count"] == 5 and len(body["repositories"]) == 2
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    assert "/installation/repositories?per_page=2&page=3" in first.headers["link"]
    last = client.get("/installation/repositories?per_page=2&page=3", headers=bearer(token))
    assert len(last.json()["repositories"]) == 1
    names = set()
    for page in (1, 2, 3):
        answer = client.get(
            f"/installation/repositories?per_page=2&page={page}", headers=bearer(token)
        )
        names |= {r["full_name"] for r in answer.json()["repositories"]}
    assert names == set(world.repository_names())
    other = installation_token(client, 10)["token"]
    empty = client.get("/installation/repositories", headers=bearer(other))
    assert empty.json()["total_count"] == 0 and empty.json()["repository_selection"] == "selected"
    assert client.get("/installation/repositories", headers=bearer("ghp_x")).status_code == 401


def test_a_hub_without_apps_has_no_app_routes() -> None:
    world = World(WorldConfig(seed=3, repositories=1, prs_per_repository=1))
    client = sync_client(create_app(world, HubConfig()), base_url="http://hub.test")
    OPENED.append(client)
    assert client.get("/orgs/acme/installation").status_code == 404
    assert client.post("/app/installations/1/access_tokens").status_code == 404
    assert client.post(f"/repos/{world.repository_names()[0]}/pulls").status_code == 404


def test_the_server_options_configure_one_app(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pub.pem"
    key_file.write_text(key_pair().public_pem)
    assert apps_from_arguments(None, None, "acme") == {}
    (spec,) = apps_from_arguments(12, str(key_file), "globex").values()
    assert spec.public_key_pem == key_pair().public_pem
    assert spec.installations == (Installation(12, "globex"),)
    with pytest.raises(SystemExit, match="go together"):
        apps_from_arguments(12, None, "acme")


def test_graphql_shows_an_installation_token_only_its_selection() -> None:
    names = World(WorldConfig(seed=3, repositories=2, prs_per_repository=1)).repository_names()
    client, _, _ = hub_client(2, Installation(9, "acme", (names[0],)))
    token = installation_token(client)["token"]
    query = "query($o: String!, $n: String!) { repository(owner: $o, name: $n) { databaseId } }"

    def ask(name: str, headers: dict[str, str]) -> dict[str, Any]:
        owner, repo = name.split("/")
        payload = {"query": query, "variables": {"o": owner, "n": repo}}
        response = client.post("/graphql", json=payload, headers=headers)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    granted = ask(names[0], bearer(token))
    assert granted["data"]["repository"]["databaseId"] > 0 and "errors" not in granted
    hidden = ask(names[1], bearer(token))  # as GitHub: alike for missing and not granted
    assert hidden["data"]["repository"] is None
    assert [e["type"] for e in hidden["errors"]] == ["NOT_FOUND"]
    assert ask(names[1], {})["data"]["repository"] is not None  # no token: no selection
