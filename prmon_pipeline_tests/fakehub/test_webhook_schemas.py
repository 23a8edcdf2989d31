"""Every kind of webhook body fakehub emits validates against GitHub's official webhook
description (npm @octokit/openapi-webhooks, the vendored subset), with one documented
exemption: ``pull_request.head.repo`` is null for a PR whose fork was deleted (REST serves
null there, the webhook schema says object; fakehub embeds the REST object unchanged)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from prmon_pipeline.fakehub import World, WorldConfig
from prmon_pipeline.fakehub import webhook_schema_subset as subset_script
from prmon_pipeline.fakehub.webhook_hooks import WebhookSpec
from prmon_pipeline.fakehub.webhook_payloads import PayloadRenderer
from prmon_pipeline_tests.fakehub.webhook_receiver import URL, Receiver, hub_for

SCHEMAS = json.loads((Path(subset_script.__file__).with_name("webhook_schemas.json")).read_text())
EXEMPT_PATH = ["pull_request", "head", "repo"]
PER_KIND = 12


def schema_key(event: str, payload: dict[str, Any]) -> str:
    if event == "ping":
        return "ping"
    return f"{event}-{payload['action']}".replace("_", "-")


def errors(key: str, payload: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(
        {"$ref": SCHEMAS["webhooks"][key], "components": SCHEMAS["components"]}
    )
    out = []
    for error in validator.iter_errors(payload):
        path = list(error.absolute_path)
        if path == EXEMPT_PATH and error.instance is None:
            continue
        out.append(f"{key} {path}: {error.message[:200]}")
    return out


def test_subset_names_its_source() -> None:
    provenance = SCHEMAS["provenance"]
    assert provenance["package"] == "@octokit/openapi-webhooks"
    assert provenance["version"] == "12.1.0"
    assert len(provenance["sha256"]) == 64
    assert set(SCHEMAS["webhooks"]) == set(subset_script.EMITTED)


def drive(world: World) -> None:
    """Every PR action, check runs, suites and repository events."""
    name = world.repository_names()[0]
    repo = world.find_repository(name)
    assert repo is not None
    world.advance(4 * 3600)
    open_prs = [p for p in repo.pulls.values() if p.state == "open" and not p.is_fork]
    first, second, third = open_prs[:3]
    for kind in ("edit", "label", "label", "people", "people", "push", "draft", "draft"):
        world.apply_event(name, first.number, kind)
    for kind in ("auto_merge", "auto_merge", "close", "reopen", "merge"):
        world.apply_event(name, second.number, kind)
    world.apply_event(name, third.number, "force_push")
    world.advance(3600)
    world.rename_repository(name, "renamed")
    world.archive_repository(f"{repo.owner.login}/renamed")
    world.archive_repository(f"{repo.owner.login}/renamed", archived=False)
    world.transfer_repository(f"{repo.owner.login}/renamed", world.pop.users[0].login)
    world.create_repository("brand-new")
    world.delete_repository(f"{world.pop.owner.login}/brand-new")


def test_every_emitted_kind_validates() -> None:
    world = World(WorldConfig(seed=11, repositories=2, prs_per_repository=40))
    receiver = Receiver()
    spec = WebhookSpec(URL, kind="org", secret="s", events=("*",))
    moved = WebhookSpec(URL, target=world.repository_names()[0], events=("repository",))
    with hub_for(world, receiver, webhooks=(spec, moved)) as hub:
        hub.webhooks.ping(hub.webhooks.store.of("org", world.pop.owner.id)[0])
        drive(world)
        assert hub.webhooks.drain()
    seen: dict[str, int] = {}
    problems: list[str] = []
    for received in receiver.received:
        payload = received.payload()
        key = schema_key(received.event, payload)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= PER_KIND:  # thousands of check runs: a few of each kind suffice
            problems += errors(key, payload)
    assert problems == []
    missing = set(subset_script.EMITTED) - set(seen)
    assert missing == set()


@pytest.mark.parametrize("action", ["opened", "closed"])
def test_the_exemption_is_only_the_deleted_fork(action: str) -> None:
    """A deleted fork's PR fails only at head.repo (so the exemption hides nothing else)."""
    world = World(WorldConfig(seed=11, repositories=1, prs_per_repository=80))
    repo = world.find_repository(world.repository_names()[0])
    assert repo is not None
    gone = next(p for p in repo.pulls.values() if p.head_repo is None)
    body = PayloadRenderer(world.cfg.api_url, world.cfg.html_url).pull_request(
        gone, action, gone.user, {}
    )
    validator = Draft202012Validator(
        {
            "$ref": SCHEMAS["webhooks"][f"pull-request-{action}"],
            "components": SCHEMAS["components"],
        }
    )
    paths = [list(e.absolute_path) for e in validator.iter_errors(json.loads(json.dumps(body)))]
    assert paths == [EXEMPT_PATH]
