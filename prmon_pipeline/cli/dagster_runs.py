"""Run the asset graph in-process, as one single-run backfill over many repositories.

``prmon demo`` and ``prmon bench`` use this to drive the Dagster path without a daemon: the
same definitions, resources pointed at the CLI's settings, an ephemeral instance holding the
dynamic partitions, and one ``materialize`` call over the partition range (the single-run
backfill policy processes the repositories concurrently inside each step).
"""

from __future__ import annotations

import dagster as dg

from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.definitions import defs
from prmon_pipeline.defs.partitions import REPOSITORIES_PARTITIONS_NAME
from prmon_pipeline.defs.resources import GitHubResource, SyncSettings, WarehouseResource


def sync_through_dagster(
    settings: Settings, repositories: list[str], *, concurrency: int | None = None
) -> bool:
    """Materialize every asset for these repositories in one run; True when it succeeded.

    A repository that fails is recorded in the warehouse like any other failure; the run then
    reports failure, and the caller reads what happened from ``prmon.sync_runs``.
    """
    ordered = sorted(repositories)
    github = settings.github()
    app = settings.github_app_env()
    resources: dict[str, object] = {
        **dict(defs.resources or {}),
        "github": GitHubResource(
            api_url=github.api_url,
            token=github.token,
            app_id=app["app_id"],
            app_private_key=app["app_private_key"],
            app_private_key_file=app["app_private_key_file"],
        ),
        "warehouse": WarehouseResource(dsn=settings.database_url),
    }
    if concurrency is not None:
        resources["sync_settings"] = SyncSettings(max_concurrent_repositories=concurrency)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME, ordered)
        result = dg.materialize(
            [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
            instance=instance,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": ordered[0],
                "dagster/asset_partition_range_end": ordered[-1],
            },
            raise_on_error=False,
            # The CLI prints its own summary; Dagster's step-by-step debug log would bury it.
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    return result.success
