"""Webhook faults: drop (a failed attempt, nothing sent, recoverable by redelivery),
duplicate (same GUID twice), reorder, delay, two PR changes in the same second, a delivery
before REST shows the change; all deterministic under the fault seed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from prmon_pipeline.fakehub import World, WorldConfig, sync_client
from prmon_pipeline.fakehub.app import Hub
from prmon_pipeline.fakehub.webhook_faults import WebhookFaultSpec, parse_fault
from prmon_pipeline.fakehub.webhook_hooks import WebhookSpec
from prmon_pipeline.fakehub.world_evolution import _new_pr
from prmon_pipeline_tests.fakehub.test_webhook_delivery import create_app_for
from prmon_pipeline_tests.fakehub.webhook_receiver import URL, Receiver, hub_for


@pytest.fixture
def world() -> World:
    return World(WorldConfig(seed=4, repositories=1, prs_per_repository=30, events_per_hour=0))


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def hub(world: World, receiver: Receiver) -> Iterator[Hub]:
    spec = WebhookSpec(URL, kind="org", events=("pull_request",))
    with hub_for(world, receiver, webhooks=(spec,), fault_seed=3) as hub:
        yield hub


def target(world: World) -> tuple[str, int]:
    name = world.repository_names()[0]
    repo = world.find_repository(name)
    assert repo is not None
    return name, next(p.number for p in repo.pulls.values() if p.state == "open")


def edit(world: World, times: int = 1) -> None:
    name, number = target(world)
    for _ in range(times):
        world.apply_event(name, number, "edit")


def test_drop_records_a_failed_attempt_and_sends_nothing(
    world: World, hub: Hub, receiver: Receiver
) -> None:
    hub.webhooks.faults.add(WebhookFaultSpec("drop", count=1))
    edit(world, 2)
    assert hub.webhooks.drain()
    assert len(receiver.received) == 1
    attempts = sorted(hub.webhooks.log.attempts.values(), key=lambda a: a.id)
    assert [(a.status, a.status_code) for a in attempts] == [("failed to connect", 0), ("OK", 202)]
    hook = hub.webhooks.store.hooks[attempts[0].hook_id]
    assert hub.webhooks.redeliver(hook, attempts[0].id)  # recovery is never faulted
    assert hub.webhooks.drain()
    assert receiver.received[-1].guid == attempts[0].guid


def test_duplicate_sends_the_same_guid_twice(world: World, hub: Hub, receiver: Receiver) -> None:
    hub.webhooks.faults.add(WebhookFaultSpec("duplicate", count=1))
    edit(world)
    assert hub.webhooks.drain()
    first, second = receiver.received
    assert first.guid == second.guid and first.body == second.body
    assert len(hub.webhooks.log.attempts) == 2


def test_reorder_holds_a_delivery_back(world: World, hub: Hub, receiver: Receiver) -> None:
    hub.webhooks.sender.concurrency = 1
    hub.webhooks.faults.add(WebhookFaultSpec("reorder", count=1, hold=2))
    edit(world, 4)
    assert hub.webhooks.drain()
    guids = [r.guid for r in receiver.received]
    assert len(guids) == 4
    sent_order = sorted(hub.webhooks.log.attempts.values(), key=lambda a: a.id)
    assert [a.guid for a in sent_order] == guids
    event_order = sorted(guids, key=lambda g: g)  # v1 GUIDs carry the event's time
    assert guids != event_order


def test_delay_lets_later_deliveries_pass(world: World, hub: Hub, receiver: Receiver) -> None:
    hub.webhooks.faults.add(WebhookFaultSpec("delay", count=1, delay=0.3))
    edit(world, 3)
    assert hub.webhooks.drain()
    guids = [r.guid for r in receiver.received]
    assert len(guids) == 3 and guids[-1] == min(guids)


def test_two_changes_in_the_same_second(world: World, hub: Hub, receiver: Receiver) -> None:
    hub.webhooks.faults.add(WebhookFaultSpec("same_second", count=1))
    name, number = target(world)
    world.apply_event(name, number, "edit")
    assert hub.webhooks.drain()
    in_event_order = sorted(receiver.received, key=lambda r: uuid.UUID(r.guid).time)
    payloads = [r.payload() for r in in_event_order]  # (deliveries are concurrent)
    assert payloads[0]["action"] == "edited"
    assert payloads[1]["action"] in ("labeled", "unlabeled")
    stamps = {p["pull_request"]["updated_at"] for p in payloads}
    assert len(stamps) == 1  # the receiver must not guess which is newer


def test_delivery_before_rest_shows_the_change(world: World, hub: Hub) -> None:
    name, number = target(world)
    client: httpx.Client = sync_client(create_app_for(hub))
    # lag needs the PR as delivered before (remembered from when the fault is configured)
    hub.webhooks.faults.add(WebhookFaultSpec("lag", count=1, lag=60))
    world.apply_event(name, number, "edit")
    before = client.get(f"/repos/{name}/pulls/{number}").json()["title"]
    world.apply_event(name, number, "edit")
    assert hub.webhooks.drain()
    now = world.pull_request(name, number)["title"]
    assert now != before
    assert client.get(f"/repos/{name}/pulls/{number}").json()["title"] == before
    hub.webhooks.lagging.clear()  # the lag is over
    assert client.get(f"/repos/{name}/pulls/{number}").json()["title"] == now
    hub.webhooks.faults.add(WebhookFaultSpec("lag", count=1, lag=60))
    repo = world.find_repository(name)
    assert repo is not None
    _new_pr(world, world.rng, repo, world.now_epoch)  # a PR opens: 404 while it lags
    newest = max(repo.pulls)
    assert client.get(f"/repos/{name}/pulls/{newest}").status_code == 404
    hub.webhooks.lagging.clear()
    assert client.get(f"/repos/{name}/pulls/{newest}").status_code == 200
    client.close()


def faulted_guids(seed: int) -> list[str]:
    world = World(WorldConfig(seed=4, repositories=1, prs_per_repository=30, events_per_hour=0))
    receiver = Receiver()
    spec = WebhookSpec(URL, kind="org", events=("pull_request",))
    drop = WebhookFaultSpec("drop", rate=0.5)
    with hub_for(world, receiver, webhooks=(spec,), webhook_faults=(drop,), fault_seed=seed) as hub:
        edit(world, 12)
        assert hub.webhooks.drain()
        return sorted(a.guid for a in hub.webhooks.log.attempts.values() if a.status_code == 0)


def test_faults_are_deterministic_under_the_seed() -> None:
    first, again, other = faulted_guids(1), faulted_guids(1), faulted_guids(2)
    assert first == again and 0 < len(first) < 12
    assert first != other


def test_fault_flags_parse() -> None:
    assert parse_fault("drop:0.02") == WebhookFaultSpec("drop", rate=0.02)
    assert parse_fault("reorder").rate == 1.0
    with pytest.raises(ValueError, match="unknown webhook fault"):
        parse_fault("explode")
