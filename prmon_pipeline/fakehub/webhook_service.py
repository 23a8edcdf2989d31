"""One hub's webhooks: its hooks, the world observer, the sender, the deliveries log, faults.

``Hub.webhooks`` is the control surface for tests, the benchmark and ``prmon dev``:
:meth:`WebhookService.add_hook` (a :class:`WebhookSpec`), ``faults.add(WebhookFaultSpec…)``,
:meth:`WebhookService.drain` (wait until every queued delivery was attempted) and ``log``.
The observer attaches to the world when the first hook exists (it snapshots every PR once).
One event gets one GUID (a version-1 UUID from the world clock and a seeded node), shared by
every hook it reaches, as GitHub's REST description says.
"""

from __future__ import annotations

import base64
import random
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from prmon_pipeline.fakehub.apps import Installation
from prmon_pipeline.fakehub.config import HubConfig
from prmon_pipeline.fakehub.model import PullRequest, Repository
from prmon_pipeline.fakehub.render import pr_full
from prmon_pipeline.fakehub.render_repository import iso
from prmon_pipeline.fakehub.webhook_deliveries import DeliveryLog
from prmon_pipeline.fakehub.webhook_faults import WebhookFaults
from prmon_pipeline.fakehub.webhook_hooks import Hook, HookStore, WebhookSpec
from prmon_pipeline.fakehub.webhook_observer import WorldEvent, WorldObserver
from prmon_pipeline.fakehub.webhook_payloads import PayloadRenderer
from prmon_pipeline.fakehub.webhook_sender import Delivery, WebhookSender
from prmon_pipeline.fakehub.world import World

JSON = dict[str, Any]
UUID_EPOCH = 0x01B21DD213814000
"""100 ns intervals from 1582-10-15 (the UUID v1 epoch) to 1970-01-01."""
REPO_AND_ORG_ONLY = {
    "check_run": frozenset({"created", "completed"}),
    "check_suite": frozenset({"completed"}),
}
"""Actions repository and organisation hooks receive (the rest go to the owning App)."""
LAG_MEMORY = 4096
ZEN = "Keep it logically awesome."


class GuidSource:
    """Version-1 UUIDs: the world clock plus a counter, a seeded clock sequence and node."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"guid/{seed}")
        self.node = rng.getrandbits(48) | (1 << 40)  # multicast bit: a random node, as RFC 4122
        self.clock_seq = rng.getrandbits(14)
        self.counter = 0
        self.lock = threading.Lock()

    def next(self, epoch: int) -> str:
        with self.lock:
            self.counter += 1
            ticks = (epoch * 10_000_000 + UUID_EPOCH + self.counter) & ((1 << 60) - 1)
        fields = (
            ticks & 0xFFFFFFFF,
            (ticks >> 32) & 0xFFFF,
            (ticks >> 48) & 0x0FFF,
            (self.clock_seq >> 8) & 0x3F,
            self.clock_seq & 0xFF,
            self.node,
        )
        return str(uuid.UUID(fields=fields, version=1))


def delivery_allowed(hook: Hook, event: str, action: str) -> bool:
    """Only what GitHub sends to this kind of hook (GITHUB-WEBHOOKS.md sections 4.2-4.4)."""
    if hook.kind != "app" and action not in REPO_AND_ORG_ONLY.get(event, {action}):
        return False
    return not (event == "repository" and action == "deleted" and hook.kind != "org")


class WebhookService:
    """Hooks, sender and deliveries of one hub."""

    def __init__(
        self,
        world: World,
        config: HubConfig,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.world = world
        self.config = config
        self.store = HookStore()
        self.log = DeliveryLog(7 if config.ghes else 3, config.webhook_attempts_kept)
        self.faults = WebhookFaults(config.fault_seed, tuple(config.webhook_faults))
        host = urlsplit(world.cfg.api_url).hostname if config.ghes else None
        self.sender = WebhookSender(
            self.log,
            self.faults,
            lambda: self.world.now_epoch,
            ghes_host=host or ("github.example.com" if config.ghes else None),
            transport=transport or config.webhook_transport,
            concurrency=config.webhook_concurrency,
        )
        self.renderer = PayloadRenderer(world.cfg.api_url, world.cfg.html_url)
        self.guids = GuidSource(config.fault_seed)
        self.observer: WorldObserver | None = None
        self.lagging: dict[tuple[int, int], tuple[float, bytes | None]] = {}
        self.last_rest: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        for spec in config.webhooks:
            self.add_hook(spec, ping=False)

    # -- hooks -------------------------------------------------------------------------------

    def add_hook(self, spec: WebhookSpec, ping: bool = True) -> list[Hook]:
        """Create the hooks ``spec`` asks for (one per repository for a target-less repo
        spec); each gets a ``ping`` unless ``ping`` is false."""
        with self.world.lock:
            targets = self._targets(spec)
        hooks = [
            self.create(
                spec.kind,
                target_id,
                name,
                url=spec.url,
                content_type=spec.content_type,
                secret=spec.secret,
                insecure_ssl=spec.insecure_ssl,
                events=tuple(spec.events),
                ping=ping,
            )
            for target_id, name in targets
        ]
        return hooks

    def _targets(self, spec: WebhookSpec) -> list[tuple[int, str]]:
        world = self.world
        if spec.kind == "repo":
            names = world.repository_names() if spec.target is None else [spec.target]
            repos = [world.find_repository(n) for n in names]
            if None in repos:
                raise ValueError(f"no repository {spec.target}")
            return [(r.id, r.full_name) for r in repos if r is not None]
        if spec.kind == "org":
            login = spec.target or world.pop.owner.login
            account = world.account(login)
            if account is None or account.type != "Organization":
                raise ValueError(f"no organization {login}")
            return [(account.id, account.login)]
        apps = list(self.config.apps)
        app_id = int(spec.target) if spec.target else (apps[0] if len(apps) == 1 else None)
        if app_id is None or app_id not in self.config.apps:
            raise ValueError("an App hook needs one configured App (HubConfig.apps)")
        return [(app_id, str(app_id))]

    def create(
        self, kind: str, target_id: int, name: str, *, ping: bool = True, **fields: Any
    ) -> Hook:
        """A new hook (the App's one hook is replaced); observe the world from now on."""
        if kind == "app":
            for old in self.store.of("app", target_id):
                self.store.remove(old)
        stamp = iso(self.world.now_epoch) or ""
        hook = self.store.add(
            kind=kind,
            target_id=target_id,
            target_name=name,
            created_at=stamp,
            updated_at=stamp,
            **fields,
        )
        self.attach()
        if ping:
            self.ping(hook)
        return hook

    def attach(self) -> None:
        """Start observing the world (once)."""
        with self.world.lock:
            if self.observer is None:
                self.observer = WorldObserver(self.world, self.renderer, self.dispatch, self.faults)
                self.world.listeners.append(self.observer)

    def ping(self, hook: Hook) -> None:
        """The ``ping`` GitHub sends when a hook is created (and on ``POST …/pings``)."""
        api = self.world.cfg.api_url
        body: JSON = {"zen": ZEN, "hook_id": hook.id, "hook": hook.rest_json(api)}
        repo = self.world.repository_by_id(hook.target_id) if hook.kind == "repo" else None
        with self.world.lock:
            if repo is not None:
                body["repository"] = self.renderer.repository(repo)
                owner = repo.owner
            else:
                owner = self.world.pop.owner
            organization = self.renderer.organization(owner)
            if organization is not None and hook.kind != "app":
                body["organization"] = organization
            body["sender"] = self.renderer.user(owner)
        delivery = Delivery(
            hook=hook,
            guid=self.guids.next(self.world.now_epoch),
            event="ping",
            action=None,
            payload=orjson.dumps(body),
            repository_id=None if repo is None else repo.id,
            installation_id=None,
            faultable=False,
        )
        self.sender.submit(delivery)

    # -- events ------------------------------------------------------------------------------

    def installation_of(self, app_id: int, repo: Repository) -> Installation | None:
        """The App's installation that covers ``repo`` (None: the App cannot see it)."""
        spec = self.config.apps.get(app_id)
        if spec is None:
            return None
        owner, name = repo.owner.login.lower(), repo.full_name.lower()
        for installation in spec.installations:
            if installation.account.lower() != owner:
                continue
            chosen = installation.repositories
            if chosen is None or name in {n.lower() for n in chosen}:
                return installation
        return None

    def recipients(
        self, event: str, action: str, repo: Repository
    ) -> list[tuple[Hook, int | None]]:
        """Hooks that get this event, with the installation id for App hooks."""
        found: list[tuple[Hook, int | None]] = [(h, None) for h in self.store.of("repo", repo.id)]
        if repo.owner.type == "Organization":
            found += [(h, None) for h in self.store.of("org", repo.owner.id)]
        for hook in list(self.store.hooks.values()):
            if hook.kind == "app":
                installation = self.installation_of(hook.target_id, repo)
                if installation is not None:
                    found.append((hook, installation.id))
        return [(h, i) for h, i in found if h.wants(event) and delivery_allowed(h, event, action)]

    def dispatch(self, change: WorldEvent) -> None:
        """Send one world event to every hook that gets it, under one GUID."""
        targets = self.recipients(change.event, change.action, change.repo)
        if not targets:
            return
        if change.pr is not None and self.faults.has("lag"):
            self._maybe_lag(change.pr, change.action)
        guid = self.guids.next(change.at)
        shared: bytes | None = None
        for hook, installation_id in targets:
            if installation_id is None:
                shared = shared or orjson.dumps(change.body)
                payload = shared
            else:
                installation = {
                    "id": installation_id,
                    "node_id": installation_node(installation_id),
                }
                payload = orjson.dumps({**change.body, "installation": installation})
            delivery = Delivery(
                hook,
                guid,
                change.event,
                change.action,
                payload,
                change.repo.id,
                installation_id,
                at=change.at,
            )
            self.sender.submit(delivery)

    # -- replication lag -------------------------------------------------------------------

    def _maybe_lag(self, pr: PullRequest, action: str) -> None:
        """Maybe make ``GET …/pulls/{n}`` show the PR as before this event for a while."""
        key = (pr.repo.id, pr.number)
        previous = self.last_rest.get(key)
        if action == "opened" or previous is not None:
            spec = self.faults.pick(("lag",), "pull_request")
            if spec is not None:
                self.lagging[key] = (time.monotonic() + spec.lag, previous)
        self.last_rest[key] = orjson.dumps(
            pr_full(pr, self.world.cfg.api_url, self.world.cfg.html_url)
        )
        self.last_rest.move_to_end(key)
        while len(self.last_rest) > LAG_MEMORY:
            self.last_rest.popitem(last=False)

    def lagging_pull(self, repo: Repository, number: int) -> tuple[bool, bytes | None]:
        """Whether REST still shows the old PR, and its old bytes (None: not there yet)."""
        key = (repo.id, number)
        found = self.lagging.get(key)
        if found is None:
            return False, None
        until, previous = found
        if time.monotonic() >= until:
            del self.lagging[key]
            return False, None
        return True, previous

    # -- control ---------------------------------------------------------------------------

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued delivery was attempted (held ones are released)."""
        return self.sender.drain(timeout)

    def redeliver(self, hook: Hook, attempt_id: int) -> bool:
        """``POST …/deliveries/{id}/attempts``: a new attempt, same GUID, ``redelivery``."""
        old = self.log.get(hook.id, attempt_id)
        if old is None:
            return False
        delivery = Delivery(
            hook=hook,
            guid=old.guid,
            event=old.event,
            action=old.action,
            payload=old.payload,
            repository_id=old.repository_id,
            installation_id=old.installation_id,
            redelivery=True,
            faultable=False,
        )
        self.sender.submit(delivery)
        return True

    def close(self) -> None:
        """Stop observing and stop the sender thread."""
        if self.observer is not None and self.observer in self.world.listeners:
            self.world.listeners.remove(self.observer)
        self.sender.close()


def installation_node(installation_id: int) -> str:
    """The installation's legacy node id (``simple-installation.node_id``)."""
    return base64.b64encode(f"03:Installation{installation_id}".encode()).decode()
