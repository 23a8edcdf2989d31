"""fakehub delivers webhooks as GitHub does: headers, signatures (json and form), pings on
creation, only the actions each hook kind gets, App installations, fork PRs, GHES extras, one
attempt and no retry. Deliveries reach an in-process receiver (httpx's ASGI transport), and
one test goes over real sockets both ways."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import socket
import uuid
from typing import Any

import httpx
import jwt
import orjson
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve, sync_client
from prmon_pipeline.fakehub.apps import AppSpec, Installation
from prmon_pipeline.fakehub.webhook_hooks import Hook, WebhookSpec
from prmon_pipeline.fakehub.webhook_sender import signature
from prmon_pipeline.fakehub.webhook_service import delivery_allowed
from prmon_pipeline_tests.fakehub.webhook_receiver import URL, Received, Receiver, hub_for
from prmon_pipeline_tests.github.app_keys import key_pair

SECRET = "It's a Secret to Everybody"
NOW = 1_767_225_600
APP_ID = 77


def small_world(seed: int = 5, prs: int = 30) -> World:
    return World(WorldConfig(seed=seed, repositories=2, prs_per_repository=prs))


def open_pr(world: World, fork: bool = False) -> tuple[str, int]:
    name = world.repository_names()[0]
    repo = world.find_repository(name)
    assert repo is not None
    pr = next(
        p
        for p in repo.pulls.values()
        if p.state == "open" and p.is_fork == fork and p.head_repo is not None
    )
    return name, pr.number


def verified(received: Received, secret: str) -> bool:
    """The receiver's check: HMAC of the raw body, constant-time."""
    want256 = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    want1 = "sha1=" + hmac.new(secret.encode(), received.body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(
        received.headers["x-hub-signature-256"], want256
    ) and hmac.compare_digest(received.headers["x-hub-signature"], want1)


def test_signature_matches_githubs_test_vector() -> None:
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature(SECRET, b"Hello, World!") == expected


def test_json_delivery_headers_and_signatures() -> None:
    world, receiver = small_world(), Receiver()
    spec = WebhookSpec(URL, kind="org", secret=SECRET)
    with hub_for(world, receiver, webhooks=(spec,)) as hub:
        name, number = open_pr(world)
        world.apply_event(name, number, "edit")
        assert hub.webhooks.drain()
        hook = hub.webhooks.store.of("org", world.pop.owner.id)[0]
    [got] = receiver.of("pull_request")
    headers = got.headers
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"GitHub-Hookshot/[0-9a-f]{7}", headers["user-agent"])
    assert uuid.UUID(got.guid).version == 1
    assert headers["x-github-hook-id"] == str(hook.id)
    assert headers["x-github-hook-installation-target-type"] == "organization"
    assert headers["x-github-hook-installation-target-id"] == str(world.pop.owner.id)
    assert "x-github-enterprise-version" not in headers
    assert verified(got, SECRET)
    assert got.body == orjson.dumps(orjson.loads(got.body))  # compact, as signed
    payload = got.payload()
    assert payload["action"] == "edited" and payload["number"] == number
    assert payload["pull_request"]["title"] == world.pull_request(name, number)["title"]
    assert payload["organization"]["login"] == world.pop.owner.login
    assert "installation" not in payload
    assert SECRET not in str(hub.webhooks.log.attempts)  # the secret is never recorded


def test_no_secret_no_signature_and_repository_target() -> None:
    world, receiver = small_world(), Receiver()
    name, number = open_pr(world)
    with hub_for(world, receiver, webhooks=(WebhookSpec(URL, target=name),)) as hub:
        world.apply_event(name, number, "label")
        assert hub.webhooks.drain()
    got = receiver.of("pull_request")
    assert got
    repo = world.find_repository(name)
    assert repo is not None
    for received in got:
        assert "x-hub-signature-256" not in received.headers
        assert "x-hub-signature" not in received.headers
        assert received.headers["x-github-hook-installation-target-type"] == "repository"
        assert received.headers["x-github-hook-installation-target-id"] == str(repo.id)


def test_form_hook_sends_payload_field_and_signs_the_form_bytes() -> None:
    world, receiver = small_world(), Receiver()
    spec = WebhookSpec(URL, kind="org", content_type="form", secret="s3cret")
    with hub_for(world, receiver, webhooks=(spec,)) as hub:
        name, number = open_pr(world)
        world.apply_event(name, number, "close")
        assert hub.webhooks.drain()
    [got] = receiver.of("pull_request", "closed")
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    assert got.body.startswith(b"payload=%7B")
    assert verified(got, "s3cret")
    assert got.payload()["action"] == "closed"


def test_rest_hook_creation_uses_githubs_defaults_and_pings() -> None:
    world, receiver = small_world(), Receiver()
    name, number = open_pr(world)
    with hub_for(world, receiver) as hub:
        app = hub.webhooks  # the control surface; REST goes through the app below
        client = sync_client(create_app_for(hub))
        created = client.post(f"/repos/{name}/hooks", json={"config": {"url": URL}})
        assert created.status_code == 201, created.text
        hook = created.json()
        assert hook["config"] == {"content_type": "form", "insecure_ssl": "0", "url": URL}
        assert hook["events"] == ["push"] and hook["active"] is True
        assert created.headers["location"].endswith(f"/repos/{name}/hooks/{hook['id']}")
        assert app.drain()  # deliveries are concurrent: keep the two pings in order
        secret_hook = client.post(
            f"/repos/{name}/hooks",
            json={"config": {"url": URL, "secret": "hush", "content_type": "json"}},
        )
        assert secret_hook.json()["config"]["secret"] == "********"
        assert "hush" not in secret_hook.text
        world.apply_event(name, number, "edit")  # nobody subscribed to pull_request
        assert app.drain()
        listed = client.get(f"/repos/{name}/hooks").json()
        assert [h["id"] for h in listed] == [hook["id"], secret_hook.json()["id"]]
        assert client.delete(f"/repos/{name}/hooks/{hook['id']}").status_code == 204
        assert client.get(f"/repos/{name}/hooks/{hook['id']}").status_code == 404
        assert client.post(f"/repos/{name}/hooks", json={"config": {}}).status_code == 422
        client.close()
    assert [r.event for r in receiver.received] == ["ping", "ping"]
    ping = receiver.received[0].payload()
    assert ping["hook_id"] == hook["id"] and ping["zen"]
    assert ping["hook"]["config"]["content_type"] == "form"
    assert receiver.received[1].headers["x-github-event"] == "ping"
    assert verified(receiver.received[1], "hush")


def create_app_for(hub: Any) -> Any:
    """A Starlette app around an existing hub (so REST and deliveries share it)."""
    app = Starlette(routes=[Route("/{path:path}", endpoint=hub, methods=_METHODS)])
    app.state.hub = hub
    return app


_METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE"]


def test_repository_hooks_get_only_created_and_completed_check_events() -> None:
    world, receiver = small_world(), Receiver()
    name = world.repository_names()[0]
    with hub_for(world, receiver, webhooks=(WebhookSpec(URL, target=name),)) as hub:
        world.advance(2 * 3600)
        assert hub.webhooks.drain()
    runs = receiver.of("check_run")
    assert runs
    actions = {r.payload()["action"] for r in runs}
    assert actions == {"created", "completed"}
    assert {r.payload()["action"] for r in receiver.of("check_suite")} == {"completed"}
    created = [r.payload()["check_run"]["id"] for r in receiver.of("check_run", "created")]
    assert len(created) == len(set(created))
    for received in receiver.of("check_run", "completed"):
        assert received.payload()["check_run"]["status"] == "completed"
    assert all(r.payload()["repository"]["full_name"] == name for r in receiver.received)


def test_allowed_actions_per_hook_kind() -> None:
    def hook(kind: str) -> Hook:
        return Hook(id=1, kind=kind, target_id=1, target_name="x", url=URL)

    assert not delivery_allowed(hook("repo"), "check_run", "rerequested")
    assert not delivery_allowed(hook("org"), "check_suite", "requested")
    assert delivery_allowed(hook("app"), "check_run", "rerequested")
    assert delivery_allowed(hook("org"), "repository", "deleted")
    assert not delivery_allowed(hook("repo"), "repository", "deleted")
    assert not delivery_allowed(hook("app"), "repository", "deleted")


def app_jwt() -> str:
    claims = {"iat": NOW - 60, "exp": NOW + 540, "iss": str(APP_ID)}
    return jwt.encode(claims, key_pair().private_pem, algorithm="RS256")


def test_app_hook_carries_the_installation_and_misses_deletions() -> None:
    world, receiver = small_world(), Receiver()
    owner = world.pop.owner.login
    apps = {APP_ID: AppSpec(key_pair().public_pem, (Installation(4242, owner),))}
    name, number = open_pr(world)
    org = WebhookSpec(URL, kind="org")
    with hub_for(world, receiver, webhooks=(org,), apps=apps, clock=lambda: NOW) as hub:
        client = sync_client(create_app_for(hub))
        auth = {"Authorization": f"Bearer {app_jwt()}"}
        config = {"url": URL, "content_type": "json", "secret": SECRET}
        answer = client.patch("/app/hook/config", json=config, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["secret"] == "********"
        assert client.get("/app/hook/config").status_code == 401  # JWT only
        world.apply_event(name, number, "edit")
        world.create_repository("scratch")
        world.delete_repository(f"{owner}/scratch")
        assert hub.webhooks.drain()
        client.close()
    by_target = {"organization": [], "integration": []}  # type: dict[str, list[Received]]
    for received in receiver.received:
        by_target[received.headers["x-github-hook-installation-target-type"]].append(received)
    app_events = [(r.event, r.payload().get("action")) for r in by_target["integration"]]
    assert ("ping", None) in app_events and ("pull_request", "edited") in app_events
    assert ("repository", "created") in app_events
    assert ("repository", "deleted") not in app_events
    org_events = [(r.event, r.payload().get("action")) for r in by_target["organization"]]
    assert ("repository", "deleted") in org_events
    app_edit = next(r for r in by_target["integration"] if r.event == "pull_request")
    assert app_edit.payload()["installation"]["id"] == 4242
    assert app_edit.headers["x-github-hook-installation-target-id"] == str(APP_ID)
    assert verified(app_edit, SECRET)
    org_edit = next(r for r in by_target["organization"] if r.event == "pull_request")
    assert "installation" not in org_edit.payload()
    assert org_edit.guid == app_edit.guid  # one event, one GUID for every hook


def test_transfer_reaches_the_repository_hook_not_the_old_organization() -> None:
    world, receiver = small_world(), Receiver()
    name = world.repository_names()[0]
    org = world.pop.owner
    user = world.pop.users[0]
    hooks = (WebhookSpec(URL, target=name), WebhookSpec(URL, kind="org"))
    with hub_for(world, receiver, webhooks=hooks) as hub:
        world.transfer_repository(name, user.login)
        assert hub.webhooks.drain()
        client = sync_client(create_app_for(hub))
        moved = client.get(f"/repos/{name}")
        client.close()
    [got] = receiver.of("repository", "transferred")
    assert got.headers["x-github-hook-installation-target-type"] == "repository"
    payload = got.payload()
    assert payload["changes"]["owner"]["from"]["organization"]["login"] == org.login
    assert payload["repository"]["full_name"] == f"{user.login}/{name.split('/')[1]}"
    assert "organization" not in payload  # a user owns it now
    assert moved.status_code == 301


def test_fork_pr_runs_have_no_pull_requests_and_no_head_branch() -> None:
    world, receiver = small_world(seed=6, prs=60), Receiver()
    name, number = open_pr(world, fork=True)
    with hub_for(world, receiver, webhooks=(WebhookSpec(URL, target=name),)) as hub:
        world.apply_event(name, number, "push")
        world.advance(3 * 3600)
        assert hub.webhooks.drain()
    head = world.pull_request(name, number)["head"]["sha"]
    runs = [r.payload()["check_run"] for r in receiver.of("check_run")]
    fork_runs = [run for run in runs if run["head_sha"] == head]
    assert fork_runs
    for run in fork_runs:
        assert run["pull_requests"] == []
        assert run["check_suite"]["head_branch"] is None
    suites = [r.payload()["check_suite"] for r in receiver.of("check_suite")]
    assert all(s["head_branch"] is None for s in suites if s["head_sha"] == head)
    same_repo = [run for run in runs if run["pull_requests"]]
    assert all(run["check_suite"]["head_branch"] for run in same_repo)


def test_no_retry_after_a_failed_attempt() -> None:
    world, receiver = small_world(), Receiver(status=500)
    name, number = open_pr(world)
    with hub_for(world, receiver, webhooks=(WebhookSpec(URL, target=name),)) as hub:
        world.apply_event(name, number, "edit")
        assert hub.webhooks.drain()
        attempts = list(hub.webhooks.log.attempts.values())
    assert len(receiver.of("pull_request")) == 1
    [attempt] = [a for a in attempts if a.event == "pull_request"]
    assert attempt.status_code == 500
    assert attempt.status == "Invalid HTTP Response: 500"


def test_ghes_adds_enterprise_headers_and_keeps_seven_days() -> None:
    world, receiver = small_world(), Receiver()
    name, number = open_pr(world)
    with hub_for(world, receiver, webhooks=(WebhookSpec(URL, target=name),), ghes=True) as hub:
        world.apply_event(name, number, "edit")
        assert hub.webhooks.drain()
        assert hub.webhooks.log.retention == 7 * 86400
        assert hub.webhooks.sender.timeout == 30
    [got] = receiver.of("pull_request")
    assert got.headers["x-github-enterprise-version"]
    assert got.headers["x-github-enterprise-host"]


@pytest.mark.servers
def test_over_real_http_both_ways() -> None:
    """fakehub and the receiver on loopback sockets: create a hook over REST, get the ping
    and a PR change as real POSTs."""
    world, receiver = small_world(), Receiver()
    name, number = open_pr(world)
    app = create_app(world, HubConfig())
    with serve(receiver.app) as receiver_url, serve(app) as hub_url:
        url = f"{receiver_url}/webhooks/github"
        with httpx.Client(base_url=hub_url) as client:
            body = {"config": {"url": url, "content_type": "json", "secret": SECRET}}
            body["events"] = ["pull_request"]  # type: ignore[assignment]
            created = client.post(f"/repos/{name}/hooks", json=body)
            assert created.status_code == 201
            assert app.state.hub.webhooks.drain()  # the ping first (deliveries are concurrent)
            world.apply_event(name, number, "edit")
            assert app.state.hub.webhooks.drain()
            hook_id = created.json()["id"]
            listed = client.get(f"/repos/{name}/hooks/{hook_id}/deliveries").json()
        app.state.hub.webhooks.close()
    assert [r.event for r in receiver.received] == ["ping", "pull_request"]
    assert all(verified(r, SECRET) for r in receiver.received)
    assert [d["event"] for d in listed] == ["pull_request", "ping"]
    assert all(d["status"] == "OK" and d["status_code"] == 202 for d in listed)


@pytest.mark.servers
def test_unreachable_and_slow_receivers_are_recorded_failures() -> None:
    """A refused connection is ``failed to connect``; an answer later than the timeout is
    ``timed out``; both code 0 (no HTTP answer), one attempt each, no retry."""

    async def slow(request: Any) -> Response:
        await asyncio.sleep(1.0)
        return Response(status_code=202)

    sleeper = Starlette(routes=[Route("/webhooks/github", slow, methods=["POST"])])
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    world = small_world()
    name, number = open_pr(world)
    with serve(sleeper) as slow_url:
        hooks = (
            WebhookSpec(f"http://127.0.0.1:{dead_port}/webhooks/github", target=name),
            WebhookSpec(f"{slow_url}/webhooks/github", kind="org"),
        )
        app = create_app(world, HubConfig(webhooks=hooks))
        service = app.state.hub.webhooks
        service.sender.timeout = 0.2  # GitHub's 10 s, shortened for the test
        world.apply_event(name, number, "edit")
        assert service.drain()
        outcomes = sorted((a.status, a.status_code) for a in service.log.attempts.values())
        service.close()
    assert outcomes == [("failed to connect", 0), ("timed out", 0)]
