"""The ``prmon`` code location: composes what ``defs/`` wires, nothing else."""

from __future__ import annotations

import dagster as dg

from prmon_pipeline.defs.assets import changeset, discover_repositories, warehouse_tables
from prmon_pipeline.defs.checks import ASSET_CHECKS
from prmon_pipeline.defs.events import (
    webhook_deliveries_sensor,
    webhook_events,
    webhook_events_job,
)
from prmon_pipeline.defs.io_manager import ParquetIOManager
from prmon_pipeline.defs.jobs import full_reconciliation_job, repository_sync_job
from prmon_pipeline.defs.resources import GitHubResource, SyncSettings, WarehouseResource
from prmon_pipeline.defs.schedules import full_reconciliation_schedule, repository_refresh_schedule
from prmon_pipeline.defs.sensors import repository_change_sensor, repository_registry_sensor

defs = dg.Definitions(
    assets=[discover_repositories, changeset, warehouse_tables, webhook_events],
    asset_checks=ASSET_CHECKS,
    jobs=[repository_sync_job, full_reconciliation_job, webhook_events_job],
    sensors=[repository_registry_sensor, repository_change_sensor, webhook_deliveries_sensor],
    schedules=[repository_refresh_schedule, full_reconciliation_schedule],
    resources={
        "github": GitHubResource(token=dg.EnvVar("GITHUB_TOKEN")),
        "warehouse": WarehouseResource(),
        "sync_settings": SyncSettings(),
        "io_manager": ParquetIOManager(),
    },
    executor=dg.in_process_executor,
)
