"""GitHub GraphQL protocol knowledge as pure functions: endpoint, ``rateLimit``, error kinds.

The GraphQL twin of ``core.github_protocol``: nothing here performs I/O or reads a clock (the
caller passes ``now``). Facts relied on, with sources in ``shared/GITHUB-GRAPHQL.md``:

* the endpoint is ``https://api.github.com/graphql``; under GHES the REST base
  ``https://HOST/api/v3`` has its GraphQL twin at ``https://HOST/api/graphql`` (§3.7);
* a primary limit answers **HTTP 200** with ``errors[].type`` ``RATE_LIMITED`` (or
  ``RATE_LIMIT``) even when ``x-ratelimit-remaining`` is above 0 (a query costing more than what
  is left), so the body decides, not the header (§2.4);
* a query that takes too long or uses too much answers 502/504, a 200 with ``"timedout"`` or
  "Something went wrong…", or a 200 with partial data and "Resource limits for this query
  exceeded": all mean "ask for less" (§2.3-§2.5, §4);
* a repository that does not exist (or that the token cannot see) is ``null`` with a
  ``NOT_FOUND`` error whose ``path`` names its alias.
https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prmon_pipeline.core.github_protocol import (
    SECONDARY_MIN_WAIT,
    Decision,
    Outcome,
    RateLimit,
    header_value,
)

GRAPHQL_RESOURCE = "graphql"
"""``x-ratelimit-resource`` of the GraphQL pool (REST's is ``core``)."""
SHRINK_STATUSES = frozenset({502, 504})
"""HTTP statuses by which GitHub says a GraphQL query was too big or too slow."""

_RATE_LIMIT_TYPES = frozenset({"RATE_LIMITED", "RATE_LIMIT"})
_SHRINK_TYPES = frozenset({"RESOURCE_LIMITS_EXCEEDED", "MAX_NODE_LIMIT_EXCEEDED", "TIMEOUT"})
_SHRINK_MARKERS = (
    "timedout",
    "timed out",
    "something went wrong while executing your query",
    "resource limits for this query exceeded",
    "couldn't respond to your request in time",
    "exceeds the maximum limit",
)
_SECONDARY_MARKERS = ("secondary rate limit", "abuse detection")


def graphql_url(api_url: str) -> str:
    """The GraphQL endpoint that belongs to a REST base URL.

    ``https://api.github.com`` → ``https://api.github.com/graphql``; a GHES base
    ``https://HOST/api/v3`` → ``https://HOST/api/graphql``; anything else (a simulator's bare
    URL) → ``<base>/graphql``.
    """
    parts = urlsplit(api_url.rstrip("/"))
    path = parts.path.rstrip("/")
    if path.endswith("/api/v3"):
        path = path[: -len("/v3")] + "/graphql"
    else:
        path += "/graphql"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class GraphQLErrorKind(enum.Enum):
    """What one entry of ``errors[]`` asks of the client."""

    RATE_LIMITED = "rate_limited"  # the primary pool is exhausted: wait for its reset
    SECONDARY = "secondary"  # a secondary limit: back off
    SHRINK = "shrink"  # too big or too slow: ask again for less
    NOT_FOUND = "not_found"  # the object at ``path`` does not exist (or is not visible)
    OTHER = "other"  # anything else: not retried


def classify_graphql_error(error: Mapping[str, Any]) -> GraphQLErrorKind:
    """The kind of one GraphQL error object (``type`` first, then the message's words)."""
    kind = str(error.get("type") or "").upper()
    message = str(error.get("message") or "").lower()
    if kind in _RATE_LIMIT_TYPES or "api rate limit exceeded" in message:
        return GraphQLErrorKind.RATE_LIMITED
    if any(marker in message for marker in _SECONDARY_MARKERS):
        return GraphQLErrorKind.SECONDARY
    if kind in _SHRINK_TYPES or any(marker in message for marker in _SHRINK_MARKERS):
        return GraphQLErrorKind.SHRINK
    if kind == "NOT_FOUND":
        return GraphQLErrorKind.NOT_FOUND
    return GraphQLErrorKind.OTHER


def graphql_errors(body: Any) -> list[Mapping[str, Any]]:
    """``errors[]`` of a decoded body (objects only; absent or malformed → ``[]``)."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict)]


def error_path(error: Mapping[str, Any]) -> tuple[str | int, ...]:
    """The ``path`` of an error as a tuple (``()`` when it names no field)."""
    path = error.get("path")
    if not isinstance(path, list):
        return ()
    return tuple(p for p in path if isinstance(p, (str, int)))


@dataclass(frozen=True)
class GraphQLRateLimit:
    """The ``rateLimit`` object of one answer: what the query cost and what is left."""

    cost: int
    remaining: int | None
    limit: int | None
    reset_epoch: int | None
    node_count: int | None = None


def read_rate_limit(body: Any) -> GraphQLRateLimit | None:
    """``data.rateLimit`` of a decoded body, or None when the query did not ask or got null."""
    data = body.get("data") if isinstance(body, dict) else None
    value = data.get("rateLimit") if isinstance(data, dict) else None
    if not isinstance(value, dict) or not isinstance(value.get("cost"), int):
        return None
    return GraphQLRateLimit(
        cost=int(value["cost"]),
        remaining=_int_or_none(value.get("remaining")),
        limit=_int_or_none(value.get("limit")),
        reset_epoch=_epoch(value.get("resetAt")),
        node_count=_int_or_none(value.get("nodeCount")),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _epoch(value: Any) -> int | None:
    """``resetAt`` is typed ``DateTime`` though described as epoch seconds: accept both."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


def graphql_body_decision(
    body: Any, headers: Mapping[str, str], now_epoch: float, secondary_attempt: int = 0
) -> Decision | None:
    """The wait a 200 answer asks for (rate limited), or None when its body is to be used.

    A primary-limit error waits for the pool's reset: the ``x-ratelimit-reset`` header, else
    ``rateLimit.resetAt``, else one minute; ``retry-after`` wins when present. A secondary-limit
    error waits ``retry-after`` or ``60 * 2**attempt`` s.
    """
    kinds = {classify_graphql_error(e) for e in graphql_errors(body)}
    retry_after = header_value(headers, "retry-after")
    if GraphQLErrorKind.SECONDARY in kinds:
        wait = _seconds(retry_after)
        if wait is None:
            wait = SECONDARY_MIN_WAIT * float(2 ** max(0, secondary_attempt))
        return Decision(Outcome.WAIT, wait, "200 GraphQL secondary rate limit", True)
    if GraphQLErrorKind.RATE_LIMITED not in kinds:
        return None
    wait = _seconds(retry_after)
    if wait is None:
        limit = RateLimit.from_headers(headers)
        reading = read_rate_limit(body)
        reset = limit.reset_epoch if limit is not None else None
        if reset is None and reading is not None:
            reset = reading.reset_epoch
        wait = SECONDARY_MIN_WAIT if reset is None else max(0.0, reset - now_epoch) + 1.0
    return Decision(Outcome.WAIT, wait, "200 GraphQL primary rate limit exceeded")


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def error_summary(errors: Sequence[Mapping[str, Any]], limit: int = 3) -> str:
    """A short text of the first errors for messages and logs (never headers, so no token)."""
    parts = []
    for error in errors[:limit]:
        kind = error.get("type")
        path = ".".join(str(p) for p in error_path(error))
        text = str(error.get("message") or "(no message)")[:160]
        parts.append(" ".join(p for p in (f"[{kind}]" if kind else "", path, text) if p))
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more
