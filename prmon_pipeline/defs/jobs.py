"""The jobs automation launches: an incremental sync and the nightly full reconciliation.

Both select the whole graph (its asset checks come along); partitioning by repository is
inferred from the assets. Sensors, schedules and ``dagster job backfill`` (CLI) submit one run
per repository; a backfill run by the daemon (UI, GraphQL) follows the assets' single-run policy.
"""

from __future__ import annotations

import dagster as dg

from .assets import changeset, discover_repositories, warehouse_tables
from .tags import SYNC_MODE_TAG

SYNC_SELECTION = dg.AssetSelection.assets(discover_repositories, changeset, warehouse_tables)

repository_sync_job = dg.define_asset_job(
    "repository_sync",
    selection=SYNC_SELECTION,
    description="Incremental sync of one repository: discovery, changeset, load, checks.",
    tags={SYNC_MODE_TAG: "incremental"},
)

full_reconciliation_job = dg.define_asset_job(
    "full_reconciliation",
    selection=SYNC_SELECTION,
    description="Full sync of one repository: every PR is read, vanished PRs are soft-deleted.",
    tags={SYNC_MODE_TAG: "full"},
)
