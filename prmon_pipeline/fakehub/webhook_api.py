"""GitHub's REST endpoints for webhooks and their deliveries.

* ``GET|POST /repos/{o}/{r}/hooks``, ``GET|DELETE /repos/{o}/{r}/hooks/{id}``,
  ``POST …/hooks/{id}/pings`` (204); the same under ``/orgs/{org}/hooks``.
* ``GET|PATCH /app/hook/config`` (App JWT): the App's one hook.
* ``GET …/hooks/{id}/deliveries`` (and ``/app/hook/deliveries``): newest first, ``per_page``
  (default 30, max 100), ``cursor`` from the ``Link`` header, ``status=success|failure``;
  ``GET …/deliveries/{id}`` with request and response; ``POST …/deliveries/{id}/attempts``
  answers 202 and sends a redelivery.

Creating a hook: ``config.url`` is required; ``content_type`` defaults to ``form``,
``events`` to ``["push"]``, ``active`` to true (GitHub's REST defaults); 201 and a ``ping``.
These calls pass the hub's limits and cost one unit each, like every REST call.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from prmon_pipeline.fakehub.responses import Result, error, not_found, validation_failed
from prmon_pipeline.fakehub.webhook_deliveries import next_link
from prmon_pipeline.fakehub.webhook_hooks import CONTENT_TYPES, MIRROR_EVENTS, Hook
from prmon_pipeline.fakehub.webhook_service import WebhookService

ROUTE = "webhooks"


@dataclass(slots=True)
class HookCall:
    """One request to a webhook route: method, parsed path, query, body, API base, and the
    App a verified JWT names (``/app/hook`` routes only)."""

    method: str
    where: HookPath
    pairs: list[tuple[str, str]]
    body: bytes
    base: str
    app_id: int | None = None


@dataclass(slots=True)
class HookPath:
    """A parsed webhook path: scope (``repo``/``org``/``app``), its owner and the rest."""

    kind: str
    owner: str
    rest: list[str]


def parse_hook_path(path: str) -> HookPath | None:
    """The webhook routes; None for every other path."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 4 and parts[0] == "repos" and parts[3] == "hooks":
        return HookPath("repo", f"{parts[1]}/{parts[2]}", parts[4:])
    if len(parts) >= 3 and parts[0] == "orgs" and parts[2] == "hooks":
        return HookPath("org", parts[1], parts[3:])
    if len(parts) >= 3 and parts[:2] == ["app", "hook"]:
        return HookPath("app", "", parts[2:])
    return None


def _json(status: int, doc: object) -> Result:
    return Result(status, orjson.dumps(doc))


class WebhookAPI:
    """Answers the webhook routes of one hub (credentials and limits are checked before)."""

    def __init__(self, service: WebhookService) -> None:
        self.service = service

    @property
    def api(self) -> str:
        return self.service.world.cfg.api_url

    def respond(self, call: HookCall) -> Result:
        """The answer to one webhook request."""
        where = call.where
        if where.kind == "app":
            return self._app(call)
        target = self._target(where)
        if target is None:
            return not_found()
        if not where.rest:
            return self._collection(call, *target)
        hook = None
        if where.rest[0].isdigit():
            hook = self.service.store.get(where.kind, target[0], int(where.rest[0]))
        if hook is None:
            return not_found()
        return self._hook(call, hook, where.rest[1:])

    def _target(self, where: HookPath) -> tuple[int, str] | None:
        world = self.service.world
        with world.lock:
            if where.kind == "repo":
                repo = world.find_repository(where.owner)
                return None if repo is None else (repo.id, repo.full_name)
            account = world.account(where.owner)
            if account is None or account.type != "Organization":
                return None
            return account.id, account.login

    def _collection(self, call: HookCall, target_id: int, name: str) -> Result:
        """``GET`` lists the hooks, ``POST`` creates one."""
        kind = call.where.kind
        if call.method == "GET":
            hooks = self.service.store.of(kind, target_id)
            return _json(200, [h.rest_json(self.api) for h in hooks])
        if call.method == "POST":
            return self._create(kind, target_id, name, call.body)
        return not_found()

    def _create(self, kind: str, target_id: int, name: str, body: bytes) -> Result:
        try:
            doc = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return error(400, "Problems parsing JSON")
        config = doc.get("config") if isinstance(doc, dict) else None
        if not isinstance(config, dict) or not isinstance(config.get("url"), str):
            return validation_failed("Hook", "url")
        content_type = config.get("content_type", "form")
        events = doc.get("events", ["push"])
        valid_events = isinstance(events, list) and all(isinstance(e, str) for e in events)
        if content_type not in CONTENT_TYPES or not valid_events:
            return validation_failed("Hook", "content_type" if valid_events else "events")
        hook = self.service.create(
            kind,
            target_id,
            name,
            url=config["url"],
            content_type=content_type,
            secret=config.get("secret") or None,
            insecure_ssl=str(config.get("insecure_ssl", "0")),
            events=tuple(events),
            active=bool(doc.get("active", True)),
        )
        result = _json(201, hook.rest_json(self.api))
        result.headers.append((b"location", f"{self.api}{hook.path()}".encode()))
        return result

    def _hook(self, call: HookCall, hook: Hook, rest: list[str]) -> Result:
        if not rest:
            return self._one_hook(call, hook)
        if rest == ["pings"] and call.method == "POST":
            self.service.ping(hook)
            return Result(204, b"")
        if rest[0] == "deliveries":
            return self._deliveries(call, hook, rest[1:])
        return not_found()

    def _one_hook(self, call: HookCall, hook: Hook) -> Result:
        if call.method == "GET":
            return _json(200, hook.rest_json(self.api))
        if call.method == "DELETE":
            self.service.store.remove(hook)
            return Result(204, b"")
        return not_found()

    def _deliveries(self, call: HookCall, hook: Hook, rest: list[str]) -> Result:
        """List, show one, or redeliver (``POST …/deliveries/{id}/attempts``)."""
        log = self.service.log
        log.expire(self.service.world.now_epoch)
        if not rest and call.method == "GET":
            return self._list(call, hook)
        attempt = log.get(hook.id, int(rest[0])) if rest and rest[0].isdigit() else None
        if attempt is None:
            return not_found()
        if len(rest) == 1 and call.method == "GET":
            return _json(200, attempt.detail())
        if rest[1:] == ["attempts"] and call.method == "POST":
            self.service.redeliver(hook, attempt.id)
            return _json(202, {})
        return not_found()

    def _list(self, call: HookCall, hook: Hook) -> Result:
        try:
            chosen, cursor = self.service.log.page(hook.id, call.pairs)
        except ValueError:
            return validation_failed("HookDelivery", "cursor")
        result = _json(200, [a.item() for a in chosen])
        if cursor is not None:
            link = next_link(call.base, f"{hook.path()}/deliveries", call.pairs, cursor)
            result.headers.append((b"link", link.encode()))
        return result

    def _app(self, call: HookCall) -> Result:
        """``/app/hook/config`` and ``/app/hook/deliveries…`` of the JWT's App."""
        assert call.app_id is not None
        rest = call.where.rest
        hooks = self.service.store.of("app", call.app_id)
        if rest == ["config"]:
            return self._config(call, hooks[0] if hooks else None)
        if hooks and rest and rest[0] == "deliveries":
            return self._deliveries(call, hooks[0], rest[1:])
        return not_found()

    def _config(self, call: HookCall, hook: Hook | None) -> Result:
        if call.method == "PATCH":
            return self._app_config(call, hook)
        if call.method == "GET" and hook is not None:
            return _json(200, hook.config_json())
        return not_found()

    def _app_config(self, call: HookCall, hook: Hook | None) -> Result:
        """``PATCH /app/hook/config``: set URL, content type, secret, ``insecure_ssl``; a new
        URL makes a new hook (and a ``ping``)."""
        assert call.app_id is not None
        try:
            doc = orjson.loads(call.body or b"{}")
        except orjson.JSONDecodeError:
            return error(400, "Problems parsing JSON")
        if not isinstance(doc, dict):
            return validation_failed("Hook", "config")
        content_type = doc.get("content_type", hook.content_type if hook else "json")
        url = doc.get("url", hook.url if hook else None)
        if content_type not in CONTENT_TYPES or not isinstance(url, str):
            return validation_failed(
                "Hook", "url" if content_type in CONTENT_TYPES else "content_type"
            )
        if hook is None or url != hook.url:
            hook = self.service.create(
                "app",
                call.app_id,
                str(call.app_id),
                url=url,
                content_type=content_type,
                secret=doc.get("secret", hook.secret if hook else None) or None,
                insecure_ssl=str(doc.get("insecure_ssl", "0")),
                events=hook.events if hook else MIRROR_EVENTS,
            )
        else:
            hook.content_type = content_type
            if "secret" in doc:
                hook.secret = doc["secret"] or None
            if "insecure_ssl" in doc:
                hook.insecure_ssl = str(doc["insecure_ssl"])
        return _json(200, hook.config_json())
