"""Knobs of the simulated world and of the HTTP front end.

Two separate objects because one world may be served by several apps (for example one with
``rate_limit_status=403`` and one with 429) and the world must stay the single ground truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from prmon_pipeline.fakehub.apps import AppSpec
    from prmon_pipeline.fakehub.webhook_faults import WebhookFaultSpec
    from prmon_pipeline.fakehub.webhook_hooks import WebhookSpec


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """Shape of the generated world; the same config and the same calls give the same world.

    Fractions are per pull request (``matrix_fraction``/``no_checks_fraction`` per head
    commit). ``events_per_hour`` is the mean number of PR events per repository per simulated
    hour that :meth:`World.advance` draws; check runs progress on their own schedule.
    ``item_cache_bytes`` bounds the rendered PR and check-run bytes the world keeps (an evicted
    item is rendered again, identically): 1 GiB holds every item a cold sync of a 100 x 1,000-PR
    world reads (~600 MB of PRs, ~230 MB of runs). ``materialized_commits`` finished commits
    (never re-run) keep their check-run objects, least recently asked first out; the others
    build theirs again from the seed when asked (the same runs, so no version change).
    """

    seed: int = 1
    repositories: int = 3
    prs_per_repository: int = 50
    check_runs_per_sha: int = 8
    owner: str = "acme"
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    history_days: int = 365
    open_fraction: float = 0.35
    merged_fraction: float = 0.5
    draft_fraction: float = 0.1
    fork_fraction: float = 0.25
    deleted_fork_fraction: float = 0.05
    deleted_owner_fraction: float = 0.03
    matrix_fraction: float = 0.03
    matrix_runs: tuple[int, int] = (101, 260)
    no_checks_fraction: float = 0.1
    long_body_fraction: float = 0.03
    long_body_bytes: int = 70_000
    events_per_hour: float = 30.0
    rerun_fraction: float = 0.15
    stale_after_seconds: int = 14 * 86400
    api_url: str = "https://api.github.com"
    html_url: str = "https://github.com"
    item_cache_bytes: int = 1 << 30
    materialized_commits: int = 50_000


def _default_clock() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class HubConfig:
    """HTTP behaviour: authentication, primary and secondary limits, GHES prefix, gzip.

    ``unauthenticated_rate_limit`` defaults to ``rate_limit`` (not GitHub's 60/h) so the
    token-less demo can sync a whole world; set it to 60 to be strict. ``free_304_requires_auth``
    follows the current docs wording (a 304 is free only when authorised); off by default.
    ``secondary_style`` is ``modern``, ``legacy`` (2018: no rate-limit headers) or
    ``body_only`` (no ``Retry-After``); ``secondary_status`` overrides ``rate_limit_status``.

    ``secondary_per_minute`` counts REST requests and ``graphql_secondary_per_minute`` GraphQL
    queries, each in its own minute (GitHub: 900 and 2,000; ``fakehub.ratelimit``).

    GraphQL: ``graphql_rate_limit`` sizes the points pool (default ``rate_limit``); a query
    declaring more than ``graphql_timeout_nodes`` nodes times out with
    ``graphql_timeout_status`` (JSON, or GitHub's HTML page with ``graphql_timeout_html``);
    past ``graphql_resource_limit_nodes`` declared nodes the further ``object``/``node``
    aliases of a query come back null with "Resource limits for this query exceeded.".
    ``apps``: GitHub Apps by App id (public key and installations, see ``fakehub.apps``).
    Rendered pages stay within ``page_cache_bytes`` (LRU); the ETags of ``page_etag_entries``
    pages are remembered beyond that, and ``page_cache_entries`` sorted PR lists.

    Webhooks (``fakehub.webhook_*``): ``webhooks`` are created at start (no ping);
    ``webhook_faults`` are active from the start (seeded by ``fault_seed``); deliveries go
    through ``webhook_transport`` when given (an ASGI receiver in tests), else over HTTP, with
    ``webhook_concurrency`` sender tasks; the deliveries log keeps ``webhook_attempts_kept``
    attempts at most (and 3 days, 7 on GHES, by the world clock).
    """

    rate_limit: int = 5000
    require_auth: bool = False
    valid_tokens: frozenset[str] = field(default_factory=frozenset)
    rate_limit_status: int = 403
    secondary_concurrency: int | None = None
    secondary_per_minute: int | None = None
    graphql_secondary_per_minute: int | None = None
    secondary_status: int | None = None
    secondary_style: str = "modern"
    ghes: bool = False
    clock: Callable[[], float] = _default_clock
    unauthenticated_rate_limit: int | None = None
    free_304_requires_auth: bool = False
    gzip: bool = True
    fault_seed: int = 0
    page_cache_entries: int = 4096
    graphql_rate_limit: int | None = None
    graphql_document_cache_entries: int = 128
    graphql_timeout_nodes: int | None = None
    graphql_timeout_status: int = 502
    graphql_timeout_html: bool = False
    graphql_resource_limit_nodes: int | None = None
    apps: Mapping[int, AppSpec] = field(default_factory=dict)
    page_cache_bytes: int = 256 << 20
    page_etag_entries: int = 65536
    webhooks: tuple[WebhookSpec, ...] = ()
    webhook_faults: tuple[WebhookFaultSpec, ...] = ()
    webhook_transport: httpx.AsyncBaseTransport | None = None
    webhook_concurrency: int = 32
    webhook_attempts_kept: int = 200_000
