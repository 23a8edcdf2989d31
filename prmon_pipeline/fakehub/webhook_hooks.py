"""Webhooks as GitHub stores them: repository, organization and App hooks.

A hook has a URL, a content type (``json`` or ``form``; GitHub's REST default is ``form``),
an optional secret (never rendered: GitHub shows ``********``), ``insecure_ssl``, the events
it subscribes to (REST default ``["push"]``; ``*`` = every event) and ``active``. Repository
hooks are bound to the repository id, so they survive a rename. The App hook is the one hook
of a configured App (``/app/hook/config``). :class:`WebhookSpec` configures hooks up front
(``HubConfig.webhooks``, ``prmon fakehub serve --webhook-url``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
KINDS = ("repo", "org", "app")
CONTENT_TYPES = ("json", "form")
MIRROR_EVENTS = ("pull_request", "check_run", "check_suite", "repository")
"""What prmon subscribes to (and the default of :class:`WebhookSpec`)."""
TARGET_TYPES = {"repo": "repository", "org": "organization", "app": "integration"}
"""``X-GitHub-Hook-Installation-Target-Type`` per hook kind (captures: repository/integration)."""
HOOK_TYPES = {"repo": "Repository", "org": "Organization", "app": "App"}
HOOK_ID_BASE = 500_000_000


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """A hook to create when the hub starts.

    ``target``: for ``repo`` an ``owner/name`` (None: one hook on every repository), for
    ``org`` the organisation login (None: the world's owner), for ``app`` the App id as text
    (None: the only configured App). ``secret`` None sends unsigned deliveries.
    """

    url: str
    kind: str = "repo"
    content_type: str = "json"
    secret: str | None = field(default=None, repr=False)
    events: tuple[str, ...] = MIRROR_EVENTS
    target: str | None = None
    insecure_ssl: str = "0"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"webhook kind {self.kind!r}: one of {KINDS}")
        if self.content_type not in CONTENT_TYPES:
            raise ValueError(f"webhook content type {self.content_type!r}: one of json, form")


@dataclass(slots=True, eq=False)
class Hook:
    """One configured hook. ``target_id``: repository id, organisation id or App id."""

    id: int
    kind: str
    target_id: int
    target_name: str
    url: str
    content_type: str = "form"
    secret: str | None = field(default=None, repr=False)
    insecure_ssl: str = "0"
    events: tuple[str, ...] = ("push",)
    active: bool = True
    created_at: str = ""
    updated_at: str = ""
    last_status: tuple[int | None, str] = (None, "unused")

    def wants(self, event: str) -> bool:
        """Subscribed to ``event`` (``ping`` always reaches a hook)."""
        return self.active and (event == "ping" or event in self.events or "*" in self.events)

    def config_json(self) -> JSON:
        """``webhook-config``: the secret is masked, never shown."""
        doc: JSON = {
            "content_type": self.content_type,
            "insecure_ssl": self.insecure_ssl,
            "url": self.url,
        }
        if self.secret:
            doc["secret"] = "********"  # noqa: S105  # GitHub's mask, not a secret
        return doc

    def path(self) -> str:
        """The hook's REST path (without the API base)."""
        if self.kind == "repo":
            return f"/repos/{self.target_name}/hooks/{self.id}"
        if self.kind == "org":
            return f"/orgs/{self.target_name}/hooks/{self.id}"
        return "/app/hook"

    def rest_json(self, api: str) -> JSON:
        """The ``hook`` object of ``GET …/hooks/{id}`` (``org-hook`` for organisations)."""
        url = f"{api}{self.path()}"
        code, status = self.last_status
        doc: JSON = {
            "type": HOOK_TYPES[self.kind],
            "id": self.id,
            "name": "web",
            "active": self.active,
            "events": list(self.events),
            "config": self.config_json(),
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            "url": url,
        }
        if self.kind == "repo":
            doc["test_url"] = f"{url}/test"
        doc["ping_url"] = f"{url}/pings"
        doc["deliveries_url"] = f"{url}/deliveries"
        if self.kind == "repo":
            doc["last_response"] = {"code": code, "status": status, "message": None}
        if self.kind == "app":
            doc["app_id"] = self.target_id
        return doc


class HookStore:
    """Every hook of a hub, by id; ids grow from :data:`HOOK_ID_BASE`."""

    def __init__(self) -> None:
        self.hooks: dict[int, Hook] = {}
        self._next = HOOK_ID_BASE

    def add(self, **fields: Any) -> Hook:
        self._next += 1
        hook = Hook(id=self._next, **fields)
        self.hooks[hook.id] = hook
        return hook

    def of(self, kind: str, target_id: int) -> list[Hook]:
        """The hooks of one repository, organisation or App, in creation order."""
        found = list(self.hooks.values())  # a snapshot: the API thread may add hooks meanwhile
        return [h for h in found if h.kind == kind and h.target_id == target_id]

    def get(self, kind: str, target_id: int, hook_id: int) -> Hook | None:
        hook = self.hooks.get(hook_id)
        if hook is None or hook.kind != kind or hook.target_id != target_id:
            return None
        return hook

    def remove(self, hook: Hook) -> None:
        self.hooks.pop(hook.id, None)
