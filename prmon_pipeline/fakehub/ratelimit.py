"""Primary (hourly, per token) and secondary (per-minute, concurrency) rate limits.

Rules implemented (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
the window resets an hour after its first request; every response costs one unit except a
``304`` (conditional requests are free) and ``GET /rate_limit``; redirects and errors cost one
(observed: a 301 moved ``X-RateLimit-Used`` 8 -> 9). Exhaustion answers 403 or 429 with
``x-ratelimit-remaining: 0``. The clock is injected so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prmon_pipeline.fakehub.config import HubConfig

WINDOW_SECONDS = 3600
PRIMARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
LEGACY_SECONDARY_MESSAGE = (
    "You have triggered an abuse detection mechanism. "
    "Please wait a few minutes before you try again."
)
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


@dataclass(slots=True)
class Bucket:
    """One token's primary quota in the current window."""

    limit: int
    used: int
    reset: int

    @property
    def remaining(self) -> int:
        """Units left (never negative)."""
        return max(0, self.limit - self.used)


class PrimaryLimiter:
    """Hourly buckets keyed by (pool, token): ``core`` for REST, ``graphql`` for GraphQL points
    (GitHub keeps the two pools apart); token ``None`` is the unauthenticated caller."""

    def __init__(self, cfg: HubConfig) -> None:
        self.cfg = cfg
        self.buckets: dict[tuple[str, str | None], Bucket] = {}

    def bucket(self, token: str | None, pool: str = "core") -> Bucket:
        """The token's bucket in ``pool``, refilled when its window has passed."""
        now = self.cfg.clock()
        found = self.buckets.get((pool, token))
        if found is None or now >= found.reset:
            limit = self.limit(pool, token)
            found = Bucket(limit=limit, used=0, reset=int(now) + WINDOW_SECONDS)
            self.buckets[pool, token] = found
        return found

    def limit(self, pool: str, token: str | None) -> int:
        """The hourly size of ``token``'s bucket in ``pool`` (the one place that chooses it)."""
        if pool == "graphql" and self.cfg.graphql_rate_limit is not None:
            return self.cfg.graphql_rate_limit
        if token is None and self.cfg.unauthenticated_rate_limit is not None:
            return self.cfg.unauthenticated_rate_limit
        return self.cfg.rate_limit

    def reset(self) -> None:
        """Forget every bucket (full quota for everybody)."""
        self.buckets.clear()


class SecondaryLimiter:
    """Requests per token per clock minute; answers the ``Retry-After`` seconds when over."""

    def __init__(self, cfg: HubConfig) -> None:
        self.cfg = cfg
        self.minutes: dict[str | None, tuple[int, int]] = {}

    def over_per_minute(self, token: str | None) -> int | None:
        """Count this request; ``None`` if allowed, else seconds until the minute rolls."""
        limit = self.cfg.secondary_per_minute
        if limit is None:
            return None
        now = self.cfg.clock()
        window = int(now // 60) * 60
        start, count = self.minutes.get(token, (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        self.minutes[token] = (start, count)
        if count > limit:
            return max(1, math.ceil(start + 60 - now))
        return None

    def reset(self) -> None:
        """Forget the per-minute counts."""
        self.minutes.clear()
