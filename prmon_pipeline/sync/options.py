"""How to sync, and the one home of every default the CLI and Dagster share.

Adapters (``github``, ``warehouse``) take these values as arguments and keep no defaults of their
own; ``prmon sync``'s flags, the Dagster resources' config and ``prmon status`` read them here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta

from prmon_pipeline.core.models import ApiMode, ComparisonChoice, ComparisonPath, SyncMode
from prmon_pipeline.github.client import GitHubConfig

DEFAULT_API_URL = "https://api.github.com"
REQUESTS_IN_FLIGHT: int = next(
    f.default for f in fields(GitHubConfig) if f.name == "max_concurrency"
)  # type: ignore[assignment]
"""Concurrent requests of one GitHub client (all repositories of a process share them); the
client's own setting, named here for the CLI and the Dagster resource."""
REPOSITORIES_AT_ONCE = 4
"""Repositories synced at once by ``prmon sync`` and inside one Dagster step: as fast as 8 on
two cores (73 s against 74 s for the bench's cold sync) and 60 MB lighter."""
OVERLAP = timedelta(minutes=5)
"""The walk goes this far below the watermark: GitHub's ``updated_at`` order is not strict
while PRs change during a walk, and duplicates across pages are expected anyway."""
CHECK_RUNS_LOOKBACK_DAYS = 30
"""Closed PRs older than this are not polled for check runs on a first or full sync."""
FRESHNESS_MAX_AGE = timedelta(minutes=120)
"""A repository is stale when its last success is older: twice the hourly refresh sweep, which
is the longest a healthy repository without changes goes unsynced under Dagster."""
MAX_BUDGET_SHARE = 1.0
"""The share of each rate-limit pool's hourly budget a sync may spend (``--max-budget-share``);
below 1 the rest is left to other tools: the sync stops early and resumes next cycle."""
LOAD_ATTEMPTS = 4
"""Tries of a load (and of a snapshot read) on transient database errors."""
SLICE_PULL_REQUESTS = 10_000
"""An incremental walk longer than this is stored slice by slice (see ``sync.sliced``)."""

AUTO_COMPARISON: dict[SyncMode, ComparisonPath] = {
    "incremental": "full_comparison",
    "single": "full_comparison",
    "full": "digest_first",
}
"""The faster path per mode, as ``prmon bench`` measured both on the same rows (README,
"Performance"). A full sync compares every stored row, most of them unchanged: digest-first
took 0.64× the full comparison's snapshot + changeset seconds on the 100,000-PR repository (the
bodies it does not read outweigh the digests it computes). An incremental cycle reads ~100 PRs
and a few hundred runs a repository: round trips, not bytes, and digest-first has two more
(1.00× in the bench's cycle, 1.2-1.3× on a repository alone)."""


def lookback(days: int | None) -> timedelta | None:
    """The check-run look-back for a number of days; ``None`` or 0 turns it off."""
    return timedelta(days=days) if days else None


@dataclass(frozen=True)
class SyncOptions:
    """How to sync: the mode, a dry run, one PR, and the limits that protect the rate limit."""

    mode: SyncMode = "incremental"
    dry_run: bool = False
    pr_number: int | None = None
    overlap: timedelta = OVERLAP
    check_runs_lookback: timedelta | None = timedelta(days=CHECK_RUNS_LOOKBACK_DAYS)
    refresh_open_checks: bool = False
    """Also poll the check runs of every open PR (free 304s, one request each): the periodic
    sweep that finds re-runs on PRs that did not otherwise change."""
    dagster_run_id: str | None = None
    load_attempts: int = LOAD_ATTEMPTS
    slice_pull_requests: int = SLICE_PULL_REQUESTS
    api: ApiMode = "auto"
    """How check runs are read: ``auto`` (GraphQL batches where they are cheaper and the server
    has GraphQL, REST 304s for the sweep), ``rest`` or ``graphql``."""
    comparison: ComparisonChoice = "auto"
    """How the snapshot and changeset meet the warehouse (``comparison_path``)."""
    compare_paths: bool = False
    """Also run the other path on the same rows, both timed as stages of their own and checked
    to agree (``sync.path_comparison``): what ``prmon bench`` measures; the load is unchanged."""

    def comparison_path(self) -> ComparisonPath:
        """The path this sync takes: ``comparison``, or for ``auto`` the one per mode in
        ``AUTO_COMPARISON``."""
        if self.comparison != "auto":
            return self.comparison
        return AUTO_COMPARISON[self.mode]

    @property
    def sliced(self) -> bool:
        """Whether a long walk may be stored slice by slice (incremental writes only: a full
        sync must see every PR at once to find deleted ones, a dry run stores nothing)."""
        return self.mode == "incremental" and not self.dry_run
