"""Names shared by assets, jobs, sensors, schedules and ``dagster.yaml``.

``SYNC_MODE_TAG`` on a run (or a backfill) selects the sync mode for every step of it:
``incremental`` (default) or ``full`` (the nightly reconciliation, which detects deletions).
``GITHUB_API_POOL`` is the concurrency pool of the GitHub-heavy discovery step, bounded across all
runs by ``concurrency.pools`` in ``dagster.yaml`` (or ``dagster instance concurrency set``).
"""

from __future__ import annotations

from typing import Final

SYNC_MODE_TAG: Final = "prmon/sync_mode"
SYNC_MODES: Final = ("incremental", "full")
EVENTS_MODE: Final = "events"
"""The mode tag of a ``webhook_events`` run: stored deliveries applied, no polling."""
GITHUB_API_POOL: Final = "github_api"
REFRESH_CHECKS_TAG: Final = "prmon/refresh_checks"
"""``true`` on a run: also poll every open PR's check runs (the hourly sweep for re-runs)."""
PARTITION_TAG: Final = "dagster/partition"
"""Dagster's own tag on a one-partition run; the run queue allows one run per value."""
