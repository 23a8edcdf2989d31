"""Thin httpx transport for GitHub REST: send, then let ``core.github_protocol`` decide.

What lives here and nowhere else: the connection pool (keep-alive, gzip — httpx asks for and
decodes it), the concurrency bound, sleeping, the random draw for jitter, and translation of
httpx exceptions into :mod:`prmon_pipeline.core.errors`. Everything GitHub-specific (headers,
Link, rate-limit arithmetic) is a pure function in ``core.github_protocol``.

The ``Authorization`` value comes, per request, from a :class:`~prmon_pipeline.github.app_auth.
Credentials`: a fixed token (``GITHUB_TOKEN``) or a GitHub App's installation token for the
repository's owner. It is only ever placed in the header: excluded from every repr, never
formatted into an exception, a log line or a counter. httpx drops it on redirects to another host.

Budgets: every response's ``x-ratelimit-*`` headers are remembered per credential and pool
(``x-ratelimit-resource``: ``core``, ``graphql``). With ``max_budget_share`` below 1, a request
whose pool has less than ``(1 - share) * limit`` left is not sent: :class:`BudgetReservedError`.
GraphQL queries (:meth:`GitHubClient.post_graphql`) go through the same retries, waits and
budgets in their own pool; rate-limit waits hold back one credential's one pool.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import httpx
import orjson

from prmon_pipeline.core.costs import ApiCost
from prmon_pipeline.core.errors import (
    BudgetReservedError,
    ConfigurationError,
    GitHubError,
    PermissionDeniedError,
    RateLimitedError,
    TransientGitHubError,
)
from prmon_pipeline.core.github_protocol import (
    Decision,
    Outcome,
    RateLimit,
    backoff_delay,
    classify_response,
    error_message,
    header_value,
    next_page_url,
    request_headers,
)
from prmon_pipeline.core.graphql_protocol import (
    GRAPHQL_RESOURCE,
    SHRINK_STATUSES,
    graphql_body_decision,
    graphql_url,
    read_rate_limit,
)
from prmon_pipeline.github.app_auth import (
    AppCredentials,
    AppInstallationCredentials,
    Credentials,
    TokenCredentials,
)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
CORE_RESOURCE = "core"
"""The REST pool's ``x-ratelimit-resource`` (GraphQL's is ``graphql``)."""


@dataclass(frozen=True)
class GitHubConfig:
    """Connection settings; ``token`` and ``app`` are kept out of ``repr`` (and so out of logs).

    With ``app`` set (a GitHub App), requests carry installation tokens and ``token`` is unused.
    """

    api_url: str
    """REST base URL (``sync.options.DEFAULT_API_URL`` is api.github.com)."""
    token: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    max_concurrency: int = 8
    user_agent: str = "prmon-pipeline"
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_rate_limit_waits: int = 6
    max_wait_seconds: float = 3900.0
    """A single rate-limit wait longer than this raises :class:`RateLimitedError` instead."""
    app: AppCredentials | None = field(default=None, repr=False)
    max_budget_share: float = 1.0
    """The share of each pool's hourly budget this client may spend; the rest is left to other
    tools (``prmon sync --max-budget-share``)."""


@dataclass
class RequestTally:
    """Mutable counters; the client updates its own and, optionally, a caller's (per repo).

    The fields are :class:`ApiCost`'s; ``cost()`` freezes them. GraphQL queries are counted
    apart from REST requests (``graphql_queries``), so ``requests - not_modified`` stays the
    REST pool's units.
    """

    requests: int = 0
    not_modified: int = 0
    bytes: int = 0
    retries: int = 0
    waits: int = 0
    wait_seconds: float = 0.0
    rate_limit_remaining: int | None = None
    rate_limit_reset: int | None = None
    graphql_remaining: int | None = None
    parse_seconds: float = 0.0
    """Decoding JSON (the client) and building Arrow tables from it (discovery adds that)."""
    graphql_points: int = 0
    graphql_queries: int = 0

    def cost(self) -> ApiCost:
        """What was counted so far, as the one frozen shape every later stage uses."""
        return ApiCost(**vars(self))


@dataclass(frozen=True)
class GitHubResponse:
    """One answered request, after retries: a 2xx or a 304 (``not_modified``)."""

    status: int
    url: str
    headers: Mapping[str, str]
    data: Any
    """The decoded JSON body (None for a 304): decoded once, here, to detect truncation."""
    moved_permanently: bool
    """True when a 301 was followed: the repository was renamed or transferred."""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return header_value(self.headers, "etag")

    @property
    def next_url(self) -> str | None:
        return next_page_url(self.headers)


class GitHubClient:
    """Async GitHub REST client: ``async with GitHubClient(config) as client: ...``.

    ``transport`` (e.g. ``httpx.ASGITransport(app=fakehub_app)``), ``sleep``, ``clock`` (epoch
    seconds, compared with ``x-ratelimit-reset``), ``rng`` and ``credentials`` (else built from
    the config: the App's installation tokens, or the fixed token) are injectable for tests.
    """

    def __init__(
        self,
        config: GitHubConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        if not 0.0 < config.max_budget_share <= 1.0:
            raise ConfigurationError(
                f"the budget share must be above 0 and at most 1, got {config.max_budget_share}"
            )
        self.config = config
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._limit = asyncio.Semaphore(config.max_concurrency)
        self._tally = RequestTally()
        self._blocked_until: dict[tuple[str, str], float] = {}
        """Per (credential, pool): no request before this time (a rate-limit wait announced)."""
        self._in_flight: dict[tuple[str, str], int] = {}
        limits = httpx.Limits(
            max_connections=config.max_concurrency,
            max_keepalive_connections=config.max_concurrency,
        )
        self._http = httpx.AsyncClient(
            base_url=config.api_url.rstrip("/") + "/",
            transport=transport,
            timeout=httpx.Timeout(config.timeout),
            limits=limits,
            follow_redirects=True,
            max_redirects=5,
        )
        self.budgets: dict[tuple[str, str], RateLimit] = {}
        """The latest rate-limit reading per (credential, pool)."""
        if credentials is None and config.app is not None:
            credentials = AppInstallationCredentials(config.app, self._send_as_app, clock)
        self.credentials = credentials or TokenCredentials(config.token)

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def counters(self) -> ApiCost:
        return self._tally.cost()

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        etag: str | None = None,
        context: str = "",
        tally: RequestTally | None = None,
    ) -> GitHubResponse:
        """GET ``url`` (relative to ``api_url``, or absolute from a Link header).

        Retries transient failures with jittered back-off and waits out rate limits; returns a
        2xx or 304, else raises a :class:`GitHubError` subclass whose message starts with
        ``context`` (the repository) and never contains the token.
        """
        request = _Request("GET", url, params=params, etag=etag)
        return await self._answered(request, context, tally)

    async def post(
        self, url: str, *, context: str = "", tally: RequestTally | None = None
    ) -> GitHubResponse:
        """POST ``url`` with no body (an action such as a webhook redelivery, answered 202).

        The same retries, waits, budgets and errors as :meth:`get`; an empty answer body is
        ``data`` None. A retried POST may act twice: use it only for idempotent actions.
        """
        return await self._answered(_Request("POST", url), context, tally)

    async def post_graphql(
        self, payload: Mapping[str, Any], *, context: str = "", tally: RequestTally | None = None
    ) -> GitHubResponse:
        """POST one GraphQL query to the endpoint of ``api_url`` (``graphql_url``).

        ``context`` names the owner (or repository) whose credential the query uses. The same
        retries, back-off and rate-limit waits as :meth:`get`, in the GraphQL pool: a 200
        whose ``errors`` say rate limited waits like a 403 would (GitHub answers a primary
        GraphQL limit with 200). A 502/504 is *not* retried here but raised at once as a
        :class:`TransientGitHubError` with its status: GitHub says the query was too big or
        too slow, and only the caller can ask for less. The answer's ``rateLimit.cost`` is
        added to ``graphql_points`` and the query counted in ``graphql_queries``.
        """
        request = _Request(
            "POST", graphql_url(self.config.api_url), json=payload, pool=GRAPHQL_RESOURCE
        )
        return await self._answered(request, context, tally)

    async def _answered(
        self, request: _Request, context: str, tally: RequestTally | None
    ) -> GitHubResponse:
        tallies = (self._tally,) if tally is None else (self._tally, tally)
        shown = f"{request.method} {_display_path(request.url)}"
        where = f"{context}: {shown}" if context else shown
        graphql = request.pool == GRAPHQL_RESOURCE
        attempts = _Attempts()
        owner, repository = request_subject(request.url, context)
        budget = (self.credentials.principal(owner), request.pool)
        while True:
            await self._respect_block(tallies, budget)
            authorization = await self.credentials.authorization(owner, repository)
            self.check_budget(request.pool, owner, where)  # then in flight, no await between
            status: int | None = None
            self._in_flight[budget] = self._in_flight.get(budget, 0) + 1
            answered = False
            try:
                response = await self._send(
                    request, tallies, owner=owner, authorization=authorization
                )
                answered = True
                status = response.status_code
                if status == 401 and not attempts.reauthorized:
                    attempts.reauthorized = self.credentials.invalidate(owner)
                    if attempts.reauthorized:  # an installation token revoked or expired early
                        continue
                if graphql and status in SHRINK_STATUSES:
                    raise TransientGitHubError(
                        f"{where}: {status} {error_message(response.content)}", http_status=status
                    )
                decision = classify_response(
                    response.status_code,
                    response.headers,
                    response.content,
                    self._clock(),
                    attempts.secondary,
                )
                ok = decision.outcome is Outcome.OK
                empty_post = request.method == "POST" and not response.content
                decoded = ok and not empty_post
                data = _decode(response.content, response.headers, tallies) if decoded else None
                if ok and graphql:
                    _count_graphql(data, tallies)
                    waiting = graphql_body_decision(
                        data, response.headers, self._clock(), attempts.secondary
                    )
                    decision = waiting or decision
            except (httpx.TransportError, _TruncatedBodyError) as exc:
                decision = Decision(Outcome.RETRY, reason=type(exc).__name__)
            finally:
                self._in_flight[budget] -= 1
                if not answered:
                    self._assume_spent(budget)
            if decision.outcome in (Outcome.OK, Outcome.NOT_MODIFIED):
                return _answer(response, data, tallies)
            await self._recover(decision, attempts, where, tallies, status, budget=budget)

    async def _recover(
        self,
        decision: Decision,
        attempts: _Attempts,
        where: str,
        tallies: tuple[RequestTally, ...],
        status: int | None = None,
        *,
        budget: tuple[str, str] = ("token", CORE_RESOURCE),
    ) -> None:
        """Back off, or schedule a rate-limit wait (of ``budget``: a credential's pool), or
        raise the terminal error.

        Terminal errors carry ``status`` as ``http_status`` (a 404 is a
        :class:`PermissionDeniedError`, a 422 a plain :class:`GitHubError`), so a caller can
        tell one item's refusal from the repository's without reading the message.
        """
        if decision.outcome is Outcome.RETRY:
            if attempts.retries >= self.config.max_retries:
                raise TransientGitHubError(
                    f"{where}: gave up after {attempts.retries} retries: {decision.reason}",
                    http_status=status,
                )
            jitter = self._rng.random()
            config = self.config
            delay = backoff_delay(attempts.retries, config.backoff_base, config.backoff_cap, jitter)
            attempts.retries += 1
            for counts in tallies:
                counts.retries += 1
            await self._sleep(delay)
        elif decision.outcome is Outcome.WAIT:
            attempts.waits += 1
            attempts.secondary += decision.secondary
            if attempts.waits > self.config.max_rate_limit_waits:
                raise RateLimitedError(
                    f"{where}: still rate limited after {attempts.waits - 1} waits "
                    f"({decision.reason})",
                    decision.wait_seconds,
                )
            if decision.wait_seconds > self.config.max_wait_seconds:
                raise RateLimitedError(
                    f"{where}: {decision.reason}, a wait of {decision.wait_seconds:.0f} s "
                    "exceeds max_wait_seconds",
                    decision.wait_seconds,
                )
            until = self._clock() + decision.wait_seconds
            # A primary limit is one pool's; a secondary limit (per minute, concurrency, CPU
            # time) is shared by REST and GraphQL, so it holds back both pools of the credential.
            principal, pool = budget
            pools = (CORE_RESOURCE, GRAPHQL_RESOURCE) if decision.secondary else (pool,)
            for key in ((principal, p) for p in pools):
                self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)
        elif decision.outcome is Outcome.PERMISSION:
            raise PermissionDeniedError(
                f"{where}: {decision.reason} (no access, or it does not exist; not retried)",
                http_status=status,
            )
        else:
            raise GitHubError(f"{where}: {decision.reason}", http_status=status)

    async def _respect_block(
        self, tallies: tuple[RequestTally, ...], budget: tuple[str, str]
    ) -> None:
        """Sleep until a rate-limit wait announced by any request of ``budget`` has passed.

        One shared deadline per (credential, pool): when one request learns that the token is
        exhausted (or a secondary limit hit), every concurrent request with that token in that
        pool waits too instead of hammering GitHub; another owner's installation token is not
        held back, and REST (``core``) and GraphQL, separate primary pools, do not hold back
        each other.
        """
        delay = self._blocked_until.get(budget, 0.0) - self._clock()
        if delay > 0:
            for counts in tallies:
                counts.waits += 1
                counts.wait_seconds += delay
            await self._sleep(delay)

    async def _send(
        self,
        request: _Request,
        tallies: tuple[RequestTally, ...],
        *,
        owner: str | None,
        authorization: str | None,
    ) -> httpx.Response:
        headers = request_headers(self.config.user_agent, None, request.etag)
        if authorization:
            headers["Authorization"] = authorization
        async with self._limit:
            response = await self._http.request(
                request.method,
                request.url,
                params=request.params,
                json=request.json,
                headers=headers,
            )
        hops = 1 + len(response.history)
        for counts in tallies:
            if request.pool == GRAPHQL_RESOURCE:
                counts.graphql_queries += 1
            else:
                counts.requests += hops
            counts.bytes += response.num_bytes_downloaded or len(response.content)
        self.note_rate_limit(response.headers, owner, tallies, request.pool)
        return response

    async def _send_as_app(self, method: str, url: str, authorization: str) -> httpx.Response:
        """A request of the GitHub App itself (JWT routes), through the same connection pool."""
        headers = request_headers(self.config.user_agent, None)
        headers["Authorization"] = authorization
        async with self._limit:
            return await self._http.request(method, url, headers=headers)

    def note_rate_limit(
        self,
        headers: Mapping[str, str],
        owner: str | None,
        tallies: tuple[RequestTally, ...],
        pool: str = CORE_RESOURCE,
    ) -> None:
        """Remember a response's rate-limit reading for its credential and pool (the header's
        ``x-ratelimit-resource``, else the request's ``pool``), and put it in the tallies
        (``rate_limit_remaining`` for REST core, ``graphql_remaining``)."""
        limit = RateLimit.from_headers(headers)
        if limit is None:
            return
        pool = limit.resource or pool
        key = (self.credentials.principal(owner), pool)
        seen = self.budgets.get(key)
        if (
            seen is None
            or seen.reset_epoch != limit.reset_epoch
            or limit.remaining < seen.remaining
        ):
            self.budgets[key] = limit  # answers overtake each other: the lowest is the truth
        for counts in tallies:
            if pool == GRAPHQL_RESOURCE:
                counts.graphql_remaining = limit.remaining
            elif pool == CORE_RESOURCE:
                counts.rate_limit_remaining = limit.remaining
                counts.rate_limit_reset = limit.reset_epoch

    def _assume_spent(self, key: tuple[str, str]) -> None:
        """A request that got no answer (cut, timed out, cancelled) may still have been charged:
        count it against the last reading, so the budget share errs on the side of others."""
        seen = self.budgets.get(key)
        if seen is not None:
            self.budgets[key] = replace(seen, remaining=max(0, seen.remaining - 1))

    def check_budget(self, pool: str, owner: str | None, where: str) -> None:
        """Raise :class:`BudgetReservedError` instead of spending what ``max_budget_share``
        leaves to other tools; requests in flight count as spent (their answers are not in yet)."""
        share = self.config.max_budget_share
        key = (self.credentials.principal(owner), pool)
        seen = self.budgets.get(key)
        if share >= 1.0 or seen is None or self._clock() >= seen.reset_epoch:
            return
        remaining = seen.remaining - self._in_flight.get(key, 0)
        if remaining < (1.0 - share) * seen.limit:
            raise BudgetReservedError(where, pool, remaining, seen.limit, seen.reset_epoch)


@dataclass
class _Attempts:
    """Per-request counts: transient retries, rate-limit waits, secondary-limit answers."""

    retries: int = 0
    waits: int = 0
    secondary: int = 0
    reauthorized: bool = False


@dataclass(frozen=True)
class _Request:
    """One request to send (again, on retries): method, URL, and the pool it is charged to."""

    method: str
    url: str
    params: Mapping[str, str | int] | None = None
    etag: str | None = None
    json: Mapping[str, Any] | None = None
    pool: str = CORE_RESOURCE


def _count_graphql(data: Any, tallies: tuple[RequestTally, ...]) -> None:
    """Add the answer's ``rateLimit.cost`` (what GitHub charged) to every tally."""
    reading = read_rate_limit(data)
    if reading is None:
        return
    for counts in tallies:
        counts.graphql_points += reading.cost
        if reading.remaining is not None:
            counts.graphql_remaining = reading.remaining


def _answer(
    response: httpx.Response, data: Any, tallies: tuple[RequestTally, ...]
) -> GitHubResponse:
    if response.status_code == 304:
        for counts in tallies:
            counts.not_modified += 1
    return GitHubResponse(
        status=response.status_code,
        url=str(response.url),
        headers=response.headers,
        data=data,
        moved_permanently=any(r.status_code == 301 for r in response.history),
    )


class _TruncatedBodyError(Exception):
    """A 2xx body that is not complete JSON (connection cut mid-body): retried."""


def _decode(body: bytes, headers: Mapping[str, str], tallies: tuple[RequestTally, ...]) -> Any:
    """Decode a 2xx body; an HTML or cut-off body is a transient fault, not data."""
    content_type = header_value(headers, "content-type") or "application/json"
    if "json" not in content_type:
        raise _TruncatedBodyError("non-JSON body on a success response")
    started = time.perf_counter()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _TruncatedBodyError(str(exc)) from exc
    finally:
        for counts in tallies:
            counts.parse_seconds += time.perf_counter() - started


def request_subject(url: str, context: str) -> tuple[str | None, str | None]:
    """The owner and ``owner/name`` a request is about, for choosing its credential.

    ``context`` is the repository (or an owner) the caller names; else the path tells, when it
    is a ``repos/{owner}/{name}/...`` path. Link URLs of the ``/repositories/{id}`` form name no
    owner, which is why callers pass ``context``.
    """
    text = context.strip()
    if text and " " not in text:
        parts = text.split("/")
        if len(parts) == 2 and all(parts):
            return parts[0], text
        if len(parts) == 1:
            return text, None
    path = httpx.URL(url).path if httpx.URL(url).is_absolute_url else "/" + url.lstrip("/")
    segments = [p for p in path.split("/") if p]
    if "repos" in segments:
        at = segments.index("repos")
        if len(segments) > at + 2:
            return segments[at + 1], f"{segments[at + 1]}/{segments[at + 2]}"
    return None, None


def _display_path(url: str) -> str:
    """The path and query of a URL for messages (never headers, so never the token)."""
    parsed = httpx.URL(url)
    if parsed.is_absolute_url:
        return parsed.raw_path.decode("ascii", "replace")
    return "/" + url.lstrip("/")


__all__ = [
    "GitHubClient",
    "GitHubConfig",
    "GitHubResponse",
    "RequestTally",
]
