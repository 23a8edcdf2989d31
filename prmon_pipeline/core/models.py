"""Small frozen values passed between stages (cursors, counters), parsed in exactly one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

SyncMode = Literal["incremental", "full", "single", "events"]
ItemKind = Literal["check_runs", "pull_request"]
ApiMode = Literal["auto", "rest", "graphql"]
"""How check runs are read: ``rest`` per SHA with ETags; ``graphql`` in batches for every SHA;
``auto`` per SHA by what is cheaper (``core.discovery_plan.route_check_run_targets``), and
REST alone where the server has no GraphQL."""
API_MODES: tuple[ApiMode, ...] = ("auto", "rest", "graphql")
ComparisonPath = Literal["digest_first", "full_comparison"]
"""How the changeset meets the warehouse: ``digest_first`` reads ``(key, digest)`` and full rows
only where digests differ (``core.changeset_digests``); ``full_comparison`` reads every touched
row in full (``core.changeset``). Both give the same changeset."""
COMPARISON_PATHS: tuple[ComparisonPath, ...] = ("digest_first", "full_comparison")
ComparisonChoice = Literal["auto", "digest_first", "full_comparison"]
"""A path, or ``auto``: the one that measured faster for the sync's mode (``sync.options``)."""
COMPARISON_CHOICES: tuple[ComparisonChoice, ...] = ("auto", *COMPARISON_PATHS)


@dataclass(frozen=True)
class CheckRunFailure:
    """One head SHA whose check runs GitHub refused (404/422: the commit is gone), kept as a cursor.

    ``attempts`` counts consecutive failures; the SHA is not asked again before ``retry_after``
    (see ``core.discovery_plan.check_run_retry_delay``). Forgotten once the SHA answers or no PR
    points at it any more.
    """

    head_sha: str
    http_status: int
    message: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    retry_after: datetime


@dataclass(frozen=True)
class ItemFailure:
    """An error of one item in this discovery, recorded instead of failing the repository.

    ``kind`` ``check_runs``: ``key`` is the head SHA; ``pull_request``: ``key`` is the PR number
    (single mode).
    """

    kind: ItemKind
    key: str
    http_status: int
    message: str


@dataclass(frozen=True)
class SyncCursors:
    """Where the last successful sync of one repository stopped.

    ``pulls_watermark`` is the newest ``updated_at`` seen; ``pulls_etag`` is the ETag of the
    first list-pulls page (sent as ``If-None-Match``: a 304 costs no rate limit);
    ``check_run_etags`` maps a head SHA to the ETag of its first check-runs page;
    ``check_run_failures`` maps a head SHA GitHub refused to its back-off. Stored in the
    warehouse and committed in the same transaction as the data they describe.
    """

    pulls_watermark: datetime | None = None
    pulls_etag: str | None = None
    check_run_etags: dict[str, str] = field(default_factory=dict)
    check_run_failures: dict[str, CheckRunFailure] = field(default_factory=dict)
