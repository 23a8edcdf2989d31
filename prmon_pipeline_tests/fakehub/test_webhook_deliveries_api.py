"""The deliveries API: newest first, per_page and a cursor in the Link header, the status
filter, one delivery with its request and response, redelivery (202, new id, same GUID,
redelivery true), retention by the world clock, the App's JWT-only listing, rate-limit cost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from prmon_pipeline.fakehub import World, WorldConfig, sync_client
from prmon_pipeline.fakehub.app import Hub
from prmon_pipeline.fakehub.apps import AppSpec, Installation
from prmon_pipeline.fakehub.webhook_hooks import WebhookSpec
from prmon_pipeline_tests.fakehub.test_webhook_delivery import create_app_for
from prmon_pipeline_tests.fakehub.webhook_receiver import URL, Receiver, hub_for
from prmon_pipeline_tests.github.app_keys import key_pair

NOW = 1_767_225_600
APP_ID = 78


@pytest.fixture
def world() -> World:
    return World(WorldConfig(seed=9, repositories=1, prs_per_repository=30, events_per_hour=0))


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def hub(world: World, receiver: Receiver) -> Iterator[Hub]:
    name = world.repository_names()[0]
    spec = WebhookSpec(URL, target=name, events=("pull_request",))
    with hub_for(world, receiver, webhooks=(spec,)) as hub:
        yield hub


@pytest.fixture
def client(hub: Hub) -> Iterator[httpx.Client]:
    with sync_client(create_app_for(hub)) as client:
        yield client


def edits(world: World, count: int) -> None:
    name = world.repository_names()[0]
    repo = world.find_repository(name)
    assert repo is not None
    number = next(p.number for p in repo.pulls.values() if p.state == "open")
    for _ in range(count):
        world.apply_event(name, number, "edit")


def deliveries_path(world: World, hub: Hub) -> str:
    name = world.repository_names()[0]
    repo = world.find_repository(name)
    assert repo is not None
    hook = hub.webhooks.store.of("repo", repo.id)[0]
    return f"/repos/{name}/hooks/{hook.id}/deliveries"


def test_pages_newest_first_with_a_cursor(world: World, hub: Hub, client: httpx.Client) -> None:
    edits(world, 5)
    assert hub.webhooks.drain()
    path = deliveries_path(world, hub)
    seen: list[dict[str, Any]] = []
    url: str | None = f"{path}?per_page=2"
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200
        assert len(page.json()) <= 2
        seen += page.json()
        url = page.links.get("next", {}).get("url")
    ids = [d["id"] for d in seen]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)
    item = seen[0]
    assert set(item) == {
        "id", "guid", "delivered_at", "redelivery", "duration", "status", "status_code",
        "event", "action", "installation_id", "repository_id", "throttled_at",
    }  # fmt: skip
    assert item["event"] == "pull_request" and item["action"] == "edited"
    assert item["status"] == "OK" and item["redelivery"] is False
    assert len(client.get(path).json()) == 5  # default 30
    assert len(client.get(f"{path}?per_page=500").json()) == 5  # capped at 100


def test_status_filter(world: World, hub: Hub, client: httpx.Client, receiver: Receiver) -> None:
    edits(world, 2)
    assert hub.webhooks.drain()
    receiver.status = 503
    edits(world, 3)
    assert hub.webhooks.drain()
    path = deliveries_path(world, hub)
    failed = client.get(f"{path}?status=failure").json()
    succeeded = client.get(f"{path}?status=success").json()
    assert [d["status_code"] for d in failed] == [503, 503, 503]
    assert [d["status_code"] for d in succeeded] == [202, 202]
    assert client.get(f"{path}?status=bogus").status_code == 422


def test_one_delivery_and_redelivery(
    world: World, hub: Hub, client: httpx.Client, receiver: Receiver
) -> None:
    receiver.status = 500
    edits(world, 1)
    assert hub.webhooks.drain()
    path = deliveries_path(world, hub)
    [failed] = client.get(path).json()
    detail = client.get(f"{path}/{failed['id']}").json()
    assert detail["request"]["headers"]["X-GitHub-Delivery"] == failed["guid"]
    assert detail["request"]["payload"]["action"] == "edited"
    assert detail["response"]["payload"] == "ok"
    receiver.status = 202
    again = client.post(f"{path}/{failed['id']}/attempts")
    assert again.status_code == 202
    assert hub.webhooks.drain()
    newest, oldest = client.get(path).json()
    assert oldest["id"] == failed["id"]
    assert newest["id"] != failed["id"] and newest["guid"] == failed["guid"]
    assert newest["redelivery"] is True and newest["status_code"] == 202
    assert [r.guid for r in receiver.received] == [failed["guid"]] * 2
    assert receiver.received[0].body == receiver.received[1].body
    assert client.post(f"{path}/1/attempts").status_code == 404


def test_retention_follows_the_world_clock(world: World, hub: Hub, client: httpx.Client) -> None:
    edits(world, 2)
    assert hub.webhooks.drain()
    path = deliveries_path(world, hub)
    world.advance(2 * 86400)
    assert len(client.get(path).json()) == 2
    world.advance(86400 + 1)
    assert client.get(path).json() == []


def test_deliveries_cost_rate_limit(world: World, hub: Hub, client: httpx.Client) -> None:
    path = deliveries_path(world, hub)
    first = client.get(path, headers={"Authorization": "token t"})
    second = client.get(path, headers={"Authorization": "token t"})
    used = int(second.headers["x-ratelimit-used"]) - int(first.headers["x-ratelimit-used"])
    assert used == 1


def test_app_hook_deliveries_need_the_apps_jwt(world: World, receiver: Receiver) -> None:
    owner = world.pop.owner.login
    apps = {APP_ID: AppSpec(key_pair().public_pem, (Installation(5, owner),))}
    spec = WebhookSpec(URL, kind="app", events=("pull_request",))
    with hub_for(world, receiver, webhooks=(spec,), apps=apps, clock=lambda: NOW) as hub:
        edits(world, 2)
        assert hub.webhooks.drain()
        token = jwt.encode(
            {"iat": NOW - 60, "exp": NOW + 540, "iss": str(APP_ID)},
            key_pair().private_pem,
            algorithm="RS256",
        )
        with sync_client(create_app_for(hub)) as client:
            assert client.get("/app/hook/deliveries").status_code == 401
            listed = client.get(
                "/app/hook/deliveries", headers={"Authorization": f"Bearer {token}"}
            ).json()
            redo = client.post(
                f"/app/hook/deliveries/{listed[0]['id']}/attempts",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert redo.status_code == 202
            assert hub.webhooks.drain()
    assert [d["installation_id"] for d in listed] == [5, 5]
    assert len(receiver.received) == 3
