"""Primary (hourly, per token) and secondary (per-minute, concurrency) rate limits.

Rules implemented (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
the window resets an hour after its first request; every response costs one unit except a
``304`` (conditional requests are free) and ``GET /rate_limit``; redirects and errors cost one
(observed: a 301 moved ``X-RateLimit-Used`` 8 -> 9). Exhaustion answers 403 or 429 with
``x-ratelimit-remaining: 0``. The clock is injected so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
        self.token_limits: Callable[[str | None], int | None] | None = None
        """A token's own hourly limit when it has one (a GitHub App installation's, per pool)."""

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
        """The hourly size of ``token``'s bucket in ``pool`` (the one place that chooses it):
        an installation's own budget (the same in each pool), the GraphQL pool's configured
        size, the unauthenticated limit, or the configured one."""
        own = self.token_limits(token) if self.token_limits is not None else None
        if own is not None:
            return own
        if pool == "graphql" and self.cfg.graphql_rate_limit is not None:
            return self.cfg.graphql_rate_limit
        if token is None and self.cfg.unauthenticated_rate_limit is not None:
            return self.cfg.unauthenticated_rate_limit
        return self.cfg.rate_limit

    def reset(self) -> None:
        """Forget every bucket (full quota for everybody)."""
        self.buckets.clear()


class SecondaryLimiter:
    """Per-minute counts per token and endpoint; answers the ``Retry-After`` seconds when over.

    GitHub documents one per-minute secondary limit per endpoint, not one shared by both: REST
    900 points a minute (a GET counts 1) and the GraphQL endpoint 2,000 points a minute (a
    query counts 1, a mutation 5; these points are not the primary cost of the query). So a
    REST request never uses up the GraphQL minute and a query never the REST one
    (``HubConfig.secondary_per_minute`` and ``graphql_secondary_per_minute``; both off unless
    set). Concurrency (100 requests) is the one limit both share (``secondary_concurrency``).
    """

    def __init__(self, cfg: HubConfig) -> None:
        self.cfg = cfg
        self.minutes: dict[tuple[str, str | None], tuple[int, int]] = {}

    def over_per_minute(self, token: str | None, pool: str = "core") -> int | None:
        """Count this request in ``pool``'s minute (``core``: REST, ``graphql``: a query);
        ``None`` if allowed, else seconds until the minute rolls."""
        cfg = self.cfg
        limit = cfg.graphql_secondary_per_minute if pool == "graphql" else cfg.secondary_per_minute
        if limit is None:
            return None
        now = cfg.clock()
        window = int(now // 60) * 60
        start, count = self.minutes.get((pool, token), (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        self.minutes[pool, token] = (start, count)
        if count > limit:
            return max(1, math.ceil(start + 60 - now))
        return None

    def reset(self) -> None:
        """Forget the per-minute counts."""
        self.minutes.clear()
