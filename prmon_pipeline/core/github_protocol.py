"""GitHub REST protocol knowledge as pure functions over ``(status, headers, body)``.

In the style of gidgethub's ``sansio`` module: nothing here performs I/O, reads a clock or
sleeps. The transport adapter (``prmon_pipeline.github.client``) sends what
:func:`request_headers` builds, then asks :func:`classify_response` what to do with the answer,
passing the current time in. Headers are any ``Mapping[str, str]``; names are compared
case-insensitively.

Rules implemented (see ``shared/GITHUB-API.md`` §1, §4-§6):

* headers: https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api
* pagination: follow ``Link`` (never build page URLs), https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
* rate limits: ``retry-after`` first, else wait for ``x-ratelimit-reset`` when remaining is 0,
  else at least one minute, exponentially for repeated secondary limits; a 403 without any of
  those signs is a permission error, https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

API_VERSION = "2022-11-28"
"""Pinned: version 2026-03-10 drops ``merge_commit_sha``/``assignee`` from PR payloads."""
ACCEPT = "application/vnd.github+json"
SECONDARY_MIN_WAIT = 60.0
"""GitHub: "wait for at least one minute before retrying" when no other hint is given."""

_LINK_PART = re.compile(r'<([^>]*)>\s*;\s*rel="?([^",]*)"?')
_SECONDARY_MARKERS = ("secondary rate limit", "abuse detection", "abuse rate limit")
_PRIMARY_MARKERS = ("api rate limit exceeded",)


def request_headers(user_agent: str, token: str | None, etag: str | None = None) -> dict[str, str]:
    """Headers for one GitHub REST request; ``etag`` becomes ``If-None-Match`` verbatim.

    The ETag is sent exactly as GitHub gave it (quotes and any ``W/`` prefix included): GitHub
    accepts weak validators and answers 304, which costs no primary rate limit.
    """
    headers = {
        "Accept": ACCEPT,
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": user_agent,
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if etag:
        headers["If-None-Match"] = etag
    return headers


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup over any mapping (httpx.Headers or a plain dict)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def parse_link_header(value: str | None) -> dict[str, str]:
    """``Link`` header → ``{rel: url}``; an absent or empty header gives ``{}``."""
    if not value:
        return {}
    return {rel: url for url, rel in _LINK_PART.findall(value)}


def next_page_url(headers: Mapping[str, str]) -> str | None:
    """URL of the next page (``rel="next"``), or None on the last or only page."""
    return parse_link_header(header_value(headers, "link")).get("next")


@dataclass(frozen=True)
class RateLimit:
    """The ``x-ratelimit-*`` headers of one response (GitHub sends them on 200, 304, 301, 4xx)."""

    limit: int
    remaining: int
    reset_epoch: int
    used: int | None = None
    resource: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        """Parse the headers; None when absent (secondary-limit 403s may carry none)."""
        limit = _int_header(headers, "x-ratelimit-limit")
        remaining = _int_header(headers, "x-ratelimit-remaining")
        reset = _int_header(headers, "x-ratelimit-reset")
        if limit is None or remaining is None or reset is None:
            return None
        return cls(
            limit=limit,
            remaining=remaining,
            reset_epoch=reset,
            used=_int_header(headers, "x-ratelimit-used"),
            resource=header_value(headers, "x-ratelimit-resource"),
        )


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = header_value(headers, name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    value = header_value(headers, name)
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None  # an HTTP-date Retry-After is never sent by GitHub's REST API


class Outcome(enum.Enum):
    """What the transport should do with one response."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    RETRY = "retry"  # transient: back off (jittered exponential) and try again
    WAIT = "wait"  # rate limited: sleep ``wait_seconds`` then try again
    PERMISSION = "permission"  # 401/403/404 that is not a rate limit: never retried
    FAIL = "fail"  # any other 4xx: a bug or a bad request, never retried


@dataclass(frozen=True)
class Decision:
    """Outcome plus, for WAIT, how long; ``reason`` is a short text for errors and logs."""

    outcome: Outcome
    wait_seconds: float = 0.0
    reason: str = ""
    secondary: bool = False


def error_message(body: bytes) -> str:
    """GitHub's ``message`` from an error body, or a short excerpt for HTML/garbage bodies."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:80].decode("utf-8", "replace").strip()
        return text or "(empty body)"
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])
    return "(no message)"


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    now_epoch: float,
    secondary_attempt: int = 0,
) -> Decision:
    """Decide retry / wait / fail for one response, following GitHub's documented order.

    ``secondary_attempt`` counts consecutive secondary-limit answers for this request, so the
    minimum one-minute wait doubles each time (60, 120, 240 … s).
    """
    if 200 <= status < 300:
        return Decision(Outcome.OK)
    if status == 304:
        return Decision(Outcome.NOT_MODIFIED)
    reason = f"{status} {error_message(body)}"
    if status in (403, 429):
        wait = rate_limit_wait(status, headers, body, now_epoch, secondary_attempt)
        return wait or Decision(Outcome.PERMISSION, reason=reason)
    if status in (401, 404):
        return Decision(Outcome.PERMISSION, reason=reason)
    return Decision(Outcome.RETRY if status >= 500 else Outcome.FAIL, reason=reason)


def rate_limit_wait(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    now_epoch: float,
    secondary_attempt: int = 0,
) -> Decision | None:
    """The wait a 403/429 asks for, or None when it is not a rate limit (a permission error).

    Order (GitHub docs): ``retry-after``; else ``x-ratelimit-remaining: 0`` → until
    ``x-ratelimit-reset`` (+1 s for clock skew); else a secondary-limit message or a 429 →
    ``60 * 2**attempt`` s. A 403 with none of these is *not* retried.
    """
    message = error_message(body).lower()
    secondary = any(marker in message for marker in _SECONDARY_MARKERS)
    retry_after = _float_header(headers, "retry-after")
    if retry_after is not None:
        return Decision(Outcome.WAIT, retry_after, f"{status} retry-after", secondary)
    limit = RateLimit.from_headers(headers)
    if limit is not None and limit.remaining == 0 and not secondary:
        wait = max(0.0, limit.reset_epoch - now_epoch) + 1.0
        return Decision(Outcome.WAIT, wait, f"{status} primary rate limit exhausted")
    primary_text = any(marker in message for marker in _PRIMARY_MARKERS)
    if secondary or status == 429 or primary_text:
        wait = SECONDARY_MIN_WAIT * float(2 ** max(0, secondary_attempt))
        return Decision(Outcome.WAIT, wait, f"{status} secondary rate limit", True)
    return None


def backoff_delay(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Jittered exponential back-off for transient failures ("equal jitter").

    ``attempt`` counts from 0; ``jitter`` is a number in [0, 1) supplied by the caller (a random
    source is I/O-like state, so core takes the draw instead of making it). The delay lies in
    ``[d/2, d)`` where ``d = min(cap, base * 2**attempt)``: never zero, never synchronised.
    """
    ceiling = min(cap, base * float(2**attempt))
    return ceiling / 2 + ceiling / 2 * jitter
