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
from typing import Any

import orjson

from prmon_pipeline.fakehub.responses import Result, error, not_found, validation_failed
from prmon_pipeline.fakehub.webhook_deliveries import next_link
from prmon_pipeline.fakehub.webhook_hooks import CONTENT_TYPES, Hook
from prmon_pipeline.fakehub.webhook_service import WebhookService

JSON = dict[str, Any]
ROUTE = "webhooks"


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

    def respond(
        self,
        method: str,
        where: HookPath,
        pairs: list[tuple[str, str]],
        body: bytes,
        base: str,
        app_id: int | None,
    ) -> Result:
        """``app_id``: the App a verified JWT names (App routes only)."""
        if where.kind == "app":
            assert app_id is not None
            return self._app(method, app_id, where.rest, pairs, body, base)
        target = self._target(where)
        if target is None:
            return not_found()
        target_id, name = target
        rest = where.rest
        if not rest:
            if method == "GET":
                hooks = self.service.store.of(where.kind, target_id)
                return _json(200, [h.rest_json(self.api) for h in hooks])
            if method == "POST":
                return self._create(where.kind, target_id, name, body)
            return not_found()
        if not rest[0].isdigit():
            return not_found()
        hook = self.service.store.get(where.kind, target_id, int(rest[0]))
        if hook is None:
            return not_found()
        return self._hook(method, hook, rest[1:], pairs, base, f"{hook.path()}")

    @property
    def api(self) -> str:
        return self.service.world.cfg.api_url

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

    def _create(self, kind: str, target_id: int, name: str, body: bytes) -> Result:
        try:
            doc = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return error(400, "Problems parsing JSON")
        config = doc.get("config") if isinstance(doc, dict) else None
        if not isinstance(config, dict) or not isinstance(config.get("url"), str):
            return validation_failed("Hook", "url")
        content_type = config.get("content_type", "form")
        if content_type not in CONTENT_TYPES:
            return validation_failed("Hook", "content_type")
        events = doc.get("events", ["push"])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            return validation_failed("Hook", "events")
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

    def _hook(
        self,
        method: str,
        hook: Hook,
        rest: list[str],
        pairs: list[tuple[str, str]],
        base: str,
        path: str,
    ) -> Result:
        if not rest:
            if method == "GET":
                return _json(200, hook.rest_json(self.api))
            if method == "DELETE":
                self.service.store.remove(hook)
                return Result(204, b"")
            return not_found()
        if rest == ["pings"] and method == "POST":
            self.service.ping(hook)
            return Result(204, b"")
        if rest[0] == "deliveries":
            return self._deliveries(method, hook, rest[1:], pairs, base, path)
        return not_found()

    def _deliveries(
        self,
        method: str,
        hook: Hook,
        rest: list[str],
        pairs: list[tuple[str, str]],
        base: str,
        path: str,
    ) -> Result:
        log = self.service.log
        log.expire(self.service.world.now_epoch)
        if not rest and method == "GET":
            try:
                chosen, cursor = log.page(hook.id, pairs)
            except ValueError:
                return validation_failed("HookDelivery", "cursor")
            result = _json(200, [a.item() for a in chosen])
            if cursor is not None:
                link = next_link(base, f"{path}/deliveries", pairs, cursor)
                result.headers.append((b"link", link.encode()))
            return result
        if not rest[0].isdigit():
            return not_found()
        attempt = log.get(hook.id, int(rest[0]))
        if attempt is None:
            return not_found()
        if len(rest) == 1 and method == "GET":
            return _json(200, attempt.detail())
        if rest[1:] == ["attempts"] and method == "POST":
            self.service.redeliver(hook, attempt.id)
            return _json(202, {})
        return not_found()

    def _app(
        self,
        method: str,
        app_id: int,
        rest: list[str],
        pairs: list[tuple[str, str]],
        body: bytes,
        base: str,
    ) -> Result:
        hooks = self.service.store.of("app", app_id)
        if rest == ["config"]:
            if method == "PATCH":
                return self._app_config(app_id, hooks[0] if hooks else None, body)
            if method == "GET":
                if not hooks:
                    return not_found()
                return _json(200, hooks[0].config_json())
            return not_found()
        if not hooks:
            return not_found()
        if rest and rest[0] == "deliveries":
            return self._deliveries(method, hooks[0], rest[1:], pairs, base, "/app/hook")
        return not_found()

    def _app_config(self, app_id: int, hook: Hook | None, body: bytes) -> Result:
        """``PATCH /app/hook/config``: set URL, content type, secret, ``insecure_ssl``."""
        try:
            doc = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return error(400, "Problems parsing JSON")
        if not isinstance(doc, dict):
            return validation_failed("Hook", "config")
        content_type = doc.get("content_type", hook.content_type if hook else "json")
        if content_type not in CONTENT_TYPES:
            return validation_failed("Hook", "content_type")
        url = doc.get("url", hook.url if hook else None)
        if not isinstance(url, str):
            return validation_failed("Hook", "url")
        if hook is None or url != hook.url:
            secret = doc.get("secret", hook.secret if hook else None) or None
            events = hook.events if hook else ("pull_request", "check_run", "check_suite", "repository")
            hook = self.service.create(
                "app",
                app_id,
                str(app_id),
                url=url,
                content_type=content_type,
                secret=secret,
                insecure_ssl=str(doc.get("insecure_ssl", "0")),
                events=events,
            )
        else:
            hook.content_type = content_type
            if "secret" in doc:
                hook.secret = doc["secret"] or None
            if "insecure_ssl" in doc:
                hook.insecure_ssl = str(doc["insecure_ssl"])
        return _json(200, hook.config_json())
