"""The ASGI front end: limits, auth, faults, conditional requests, gzip, headers.

Order per request, as GitHub appears to apply it: secondary limits, credentials, primary
quota, injected fault, handler, ``If-None-Match`` (a 304 is free), quota charge, headers.
The hub is a raw ASGI callable mounted in a Starlette app (``app.state.hub``) so the hot
path does no per-request object wrapping. ``POST /graphql`` (``/api/graphql`` on GHES) goes
through the same secondary limits, credentials and faults, then ``graphql_endpoint``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.routing import Route

from prmon_pipeline.fakehub import apps, versions
from prmon_pipeline.fakehub import faults as fault_kinds
from prmon_pipeline.fakehub.config import HubConfig
from prmon_pipeline.fakehub.faults import FaultInjector
from prmon_pipeline.fakehub.graphql_endpoint import GraphQLEndpoint
from prmon_pipeline.fakehub.handlers import handle, rate_limit_body
from prmon_pipeline.fakehub.owners import handle_owner
from prmon_pipeline.fakehub.pages import PageCache
from prmon_pipeline.fakehub.ratelimit import (
    LEGACY_SECONDARY_MESSAGE,
    PRIMARY_DOCS,
    SECONDARY_DOCS,
    SECONDARY_MESSAGE,
    PrimaryLimiter,
    SecondaryLimiter,
)
from prmon_pipeline.fakehub.responses import (
    PRIVATE_CACHE,
    PUBLIC_CACHE,
    STATIC_HEADERS,
    Result,
    error,
    if_none_match,
    no_commit,
    not_found,
)
from prmon_pipeline.fakehub.routes import OWNER_ROUTES, Target, parse_path, query_pairs
from prmon_pipeline.fakehub.webhook_api import ROUTE as WEBHOOK_ROUTE
from prmon_pipeline.fakehub.webhook_api import HookCall, WebhookAPI, parse_hook_path
from prmon_pipeline.fakehub.webhook_service import WebhookService
from prmon_pipeline.fakehub.world import World

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
GHES_PREFIX = "/api/v3"
GRAPHQL_PATHS = {False: "/graphql", True: "/api/graphql"}  # by HubConfig.ghes


@dataclass(slots=True)
class Counters:
    """Request counters for tests and the benchmark."""

    total: int = 0
    not_modified: int = 0
    rate_limited: int = 0
    secondary_limited: int = 0
    faults: int = 0
    graphql_queries: int = 0
    graphql_points: int = 0
    graphql_rate_limited: int = 0
    by_route: dict[str, int] = field(default_factory=dict)
    by_status: dict[int, int] = field(default_factory=dict)

    def reset(self) -> None:
        """Zero everything."""
        self.total = self.not_modified = self.rate_limited = 0
        self.secondary_limited = self.faults = 0
        self.graphql_queries = self.graphql_points = self.graphql_rate_limited = 0
        self.by_route.clear()
        self.by_status.clear()


@dataclass(slots=True)
class Request:
    """What the pipeline needs to know about one request."""

    scope: Scope
    headers: dict[bytes, bytes]
    target: Target
    token: str | None
    valid: bool
    base: str
    body: bytes = b""

    @property
    def version(self) -> str:
        """The requested ``X-GitHub-Api-Version`` (the default when absent)."""
        raw = self.headers.get(b"x-github-api-version")
        return versions.DEFAULT if raw is None else raw.decode("latin-1")

    @property
    def pool(self) -> str:
        """The primary pool this request draws on: ``graphql`` points or ``core`` units."""
        return "graphql" if self.target.route == "graphql" else "core"

    @property
    def key(self) -> str | None:
        """The rate-limit bucket: the token when valid, else the unauthenticated bucket."""
        return self.token if self.valid else None


def _token(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"authorization")
    if not raw:
        return None
    scheme, _, value = raw.decode("latin-1").partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "token") and value.strip() else None


class Hub:
    """Serves one :class:`World` with GitHub's HTTP semantics."""

    def __init__(self, world: World, config: HubConfig) -> None:
        self.world = world
        self.config = config
        self.counters = Counters()
        self.faults = FaultInjector(config.fault_seed)
        self.primary = PrimaryLimiter(config)
        self.graphql = GraphQLEndpoint(world, config, self.primary)
        self.apps = apps.AppAuthority(world, config)
        self.primary.token_limits = self.apps.rate_limit_of
        self.secondary = SecondaryLimiter(config)
        self.cache = PageCache(
            config.page_cache_bytes,
            entries=config.page_cache_entries,
            tag_entries=config.page_etag_entries,
        )
        self.webhooks = WebhookService(world, config)
        self.webhook_api = WebhookAPI(self.webhooks)
        self.in_flight = 0
        self._request_serial = 0

    def rate_limit_remaining(self, token: str | None = None, pool: str = "core") -> int:
        """Primary units (``graphql``: points) left for ``token`` (``None`` = unauthenticated)."""
        return self.primary.bucket(token, pool).remaining

    def reset_rate_limit(self) -> None:
        """Refill every primary bucket and forget secondary-limit history."""
        self.primary.reset()
        self.secondary.reset()

    def _request_id(self) -> bytes:
        self._request_serial += 1
        n = self._request_serial
        stamp = int(self.config.clock()) & 0xFFFFFFFF
        head = f"{0xC0DE ^ n & 0xFFFF:04X}:{n >> 16 & 0xFFFF:04X}"
        return f"{head}:{n:07X}:{n * 7:07X}:{stamp:08X}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point (http only; Starlette handles lifespan)."""
        self.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        cfg, counters = self.config, self.counters
        counters.total += 1
        headers = dict(scope["headers"])
        path: str = scope["path"]
        prefix = ""
        if cfg.ghes:
            prefix = GHES_PREFIX
            path = path[len(GHES_PREFIX) :] if path.startswith(GHES_PREFIX + "/") else "/\x00"
        body = b""
        target = parse_path(path)
        if "/hook" in path and parse_hook_path(path) is not None:
            target = Target(WEBHOOK_ROUTE, rest=path)
            body = await _read_body(receive)
        elif scope["method"] not in ("GET", "HEAD") and target.route not in apps.POST_ROUTES:
            target.route = "unknown"
        if scope["method"] == "POST" and scope["path"] == GRAPHQL_PATHS[cfg.ghes]:
            target = Target("graphql")
            body = await _read_body(receive)
        counters.by_route[target.route] = counters.by_route.get(target.route, 0) + 1
        token = _token(headers)
        host = headers.get(b"host", b"localhost").decode("latin-1")
        valid = token is not None and (not cfg.valid_tokens or token in cfg.valid_tokens)
        if token is not None and self.apps.enabled:
            valid = self.apps.token_valid(token, valid)
        req = Request(
            scope=scope,
            headers=headers,
            target=target,
            token=token,
            valid=valid,
            base=f"{scope.get('scheme', 'http')}://{host}{prefix}",
            body=body,
        )
        result = await self._respond(req)
        counters.by_status[result.status] = counters.by_status.get(result.status, 0) + 1
        if result.status == 304:
            counters.not_modified += 1
        out = self._headers(req, result)
        body = result.gz if result.gz is not None and result.status == 200 else result.body
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": result.status, "headers": out})
        if result.reset:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if scope["method"] == "HEAD" or result.status == 304:
            body = b""
        await send({"type": "http.response.body", "body": body})

    def _headers(self, req: Request, result: Result) -> list[tuple[bytes, bytes]]:
        """Charge the quota (not for 304 or ``/rate_limit``; GraphQL charges its own pool by
        the query's cost) and build the header list."""
        charged = result.status != 304 and req.target.route not in ("rate_limit", "graphql")
        if result.status == 304 and self.config.free_304_requires_auth and not req.valid:
            charged = True
        bucket = self.primary.bucket(req.key, req.pool)
        if charged and bucket.used < bucket.limit:
            bucket.used += 1
        out = [*STATIC_HEADERS, PRIVATE_CACHE if req.valid else PUBLIC_CACHE]
        if not result.bare:
            out += [
                (b"x-ratelimit-limit", str(bucket.limit).encode()),
                (b"x-ratelimit-remaining", str(bucket.remaining).encode()),
                (b"x-ratelimit-reset", str(bucket.reset).encode()),
                (b"x-ratelimit-used", str(bucket.used).encode()),
                (b"x-ratelimit-resource", req.pool.encode()),
            ]
        out.append((b"x-github-request-id", self._request_id()))
        selected = req.version if req.version in versions.SUPPORTED else versions.DEFAULT
        out.append((b"x-github-api-version-selected", selected.encode()))
        out += result.headers
        if result.status != 304:
            out.append((b"content-type", result.content_type))
        if result.etag is not None:
            weak = result.status == 200 and result.gz is not None
            tag = f'W/"{result.etag}"' if weak else f'"{result.etag}"'
            out.append((b"etag", tag.encode()))
        if result.gz is not None and result.status == 200:
            out.append((b"content-encoding", b"gzip"))
        return out

    def _secondary(self, retry_after: int) -> Result:
        """A secondary-limit refusal in the configured shape.

        ``modern``: current message, ``Retry-After``, rate-limit headers (2021+ recordings);
        ``legacy``: the 2018 abuse-detection wording, ``Retry-After`` and NO ``X-RateLimit-*``;
        ``body_only``: only the message marks it (the edited hub4j fixture shape).
        """
        self.counters.secondary_limited += 1
        cfg = self.config
        status = cfg.secondary_status or cfg.rate_limit_status
        message = LEGACY_SECONDARY_MESSAGE if cfg.secondary_style == "legacy" else SECONDARY_MESSAGE
        body = {"message": message, "documentation_url": SECONDARY_DOCS}
        result = Result(status, orjson.dumps(body), bare=cfg.secondary_style == "legacy")
        if cfg.secondary_style != "body_only":
            result.headers.append((b"retry-after", str(retry_after).encode()))
        return result

    def _gate(self, req: Request) -> Result | None:
        """Secondary limits, credentials, API version and primary quota, in that order."""
        cfg = self.config
        limit = cfg.secondary_concurrency
        crowded = limit is not None and self.in_flight > limit
        retry = 60 if crowded else self.secondary.over_per_minute(req.key, req.pool)
        if retry is not None:
            return self._secondary(retry)
        if req.token is not None and not req.valid:
            return error(401, "Bad credentials")
        if req.token is None and cfg.require_auth:
            return error(401, "Requires authentication")
        if req.version not in versions.SUPPORTED:
            return error(400, f"Invalid API version provided: {req.version}")
        bucket = self.primary.bucket(req.key)
        if req.target.route not in ("rate_limit", "graphql") and bucket.used >= bucket.limit:
            self.counters.rate_limited += 1
            who = f"user ID {zlib.crc32((req.token or '').encode())}" if req.valid else "127.0.0.1"
            body = {
                "message": f"API rate limit exceeded for {who}.",
                "documentation_url": PRIMARY_DOCS,
            }
            return Result(cfg.rate_limit_status, orjson.dumps(body))
        return None

    def _apps_answer(self, req: Request) -> Result | None:
        """GitHub App routes, and what an App credential may not read (``fakehub.apps``)."""
        if not self.apps.enabled and req.target.route not in apps.ROUTES:
            return None
        pairs = query_pairs(req.scope.get("query_string", b""))
        return self.apps.intercept(req.target, req.token, req.base, pairs)

    async def _respond(self, req: Request) -> Result:
        """The response before the common headers (``reset`` marks a connection to drop)."""
        refused = self._gate(req)
        if refused is None:  # hooks first: /app/hook takes a JWT that App routes would refuse
            webhooks = req.target.route == WEBHOOK_ROUTE
            refused = self._webhooks(req) if webhooks else self._apps_answer(req)
            refused = refused or self._lagging_pull(req)
        if refused is not None:
            return refused
        route = req.target.route
        fault = self.faults.pick(route, req.target.arg) if route != "unknown" else None
        if fault is None:
            return self._route(req)
        self.counters.faults += 1
        if fault.kind in ("no_commit", "404"):  # one item gone: see fakehub.faults
            return no_commit(req.target.arg) if fault.kind == "no_commit" else not_found()
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif fault.kind not in ("reset", "truncated", "malformed"):
            status, content_type, body = fault_kinds.error_body(fault.kind)
            return Result(status, body, content_type=content_type)
        result = self._route(req)
        result.reset = fault.kind == "reset"
        if fault.kind in ("truncated", "malformed") and result.status == 200:
            broken = fault_kinds.truncate if fault.kind == "truncated" else fault_kinds.malform
            return Result(200, broken(result.body))
        return result

    def _webhooks(self, req: Request) -> Result:
        """Hooks and deliveries (``fakehub.webhook_api``); ``/app/hook`` wants an App JWT."""
        where = parse_hook_path(req.target.rest)
        assert where is not None
        app_id = None
        if where.kind == "app":
            verified = self.apps.app_of(req.token)
            if isinstance(verified, Result):
                return verified
            app_id = verified[0]
        pairs = query_pairs(req.scope.get("query_string", b""))
        call = HookCall(req.scope["method"], where, pairs, req.body, req.base, app_id)
        return self.webhook_api.respond(call)

    def _lagging_pull(self, req: Request) -> Result | None:
        """A webhook ``lag`` fault: the PR as it was before its delivered change (or 404)."""
        if req.target.route != "pull" or not self.webhooks.lagging:
            return None
        target = req.target
        with self.world.lock:
            repo = (
                self.world.find_repository(target.owner_repo)
                if target.owner_repo is not None
                else self.world.repository_by_id(target.repo_id or 0)
            )
        if repo is None or not target.arg.isdigit():
            return None
        lagging, previous = self.webhooks.lagging_pull(repo, int(target.arg))
        if not lagging:
            return None
        return not_found() if previous is None else Result(200, previous)

    def _graphql(self, req: Request) -> Result:
        """``POST /graphql``: the endpoint charges the GraphQL pool; counted here."""
        answer = self.graphql.respond(req.body, req.key, self.apps.reader_of(req.token))
        self.counters.graphql_queries += 1
        self.counters.graphql_points += answer.points
        self.counters.graphql_rate_limited += answer.rate_limited
        result = answer.result
        if self.config.gzip and b"gzip" in req.headers.get(b"accept-encoding", b""):
            result.gz = gzip.compress(result.body, 1)
        return result

    def _route(self, req: Request) -> Result:
        target, headers = req.target, req.headers
        if target.route == "rate_limit":
            graphql = self.primary.bucket(req.key, "graphql")
            body = rate_limit_body(self.primary.bucket(req.key), graphql)
            if req.version == versions.NEWEST:
                body = versions.to_newest("rate_limit", body)
            return Result(200, body)
        if target.route == "unknown":
            return not_found()
        if target.route == "graphql":
            return self._graphql(req)
        query: bytes = req.scope.get("query_string", b"")
        pairs = query_pairs(query)
        if target.route in OWNER_ROUTES:  # accounts and their listings: fakehub/owners.py
            page = None
            result = handle_owner(self.world, target, base=req.base, pairs=pairs)
        else:
            # the ETag a page would carry is known without rendering it (not for the newest
            # version)
            revalidating = None if req.version == versions.NEWEST else headers.get(b"if-none-match")
            result, page = handle(
                self.world,
                self.cache,
                target,
                base=req.base,
                query=query,
                pairs=pairs,
                if_none_match=revalidating,
            )
        if result.status == 200 and req.version == versions.NEWEST:
            result.body = versions.to_newest(target.route, result.body)
            result.etag = hashlib.sha256(result.body).hexdigest()
            page = None
        if result.status == 200 and result.etag is not None:
            if if_none_match(headers.get(b"if-none-match"), result.etag):
                return Result(304, b"", etag=result.etag)
            accept = headers.get(b"accept-encoding", b"")
            if self.config.gzip and b"gzip" in accept:
                result.gz = page.gzipped() if page is not None else gzip.compress(result.body, 1)
            else:
                result.gz = None
        return result


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (ASGI may deliver it in several messages)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def create_app(world: World, config: HubConfig | None = None) -> Starlette:
    """A Starlette app serving ``world``; ``app.state.hub`` exposes counters, faults, limits."""
    hub = Hub(world, config or HubConfig())
    app = Starlette(routes=[Route("/{path:path}", endpoint=hub)])
    app.state.hub = hub
    return app
