"""The sync as four partitioned assets: pull_requests → check_runs → changeset → warehouse_tables.

Discovery (``pull_requests`` and ``check_runs``) is one step because ``sync.discover`` reads both
in one pass (the check runs to poll depend on the PRs just seen); it runs in the ``github_api``
pool. Each step persists its output per repository (``io_manager.ParquetIOManager``), so
"re-execute from failure" repeats only the failed step.

Every asset has ``BackfillPolicy.single_run()``: an asset backfill of many repositories is one
run whose steps process them concurrently, up to ``SyncSettings.max_concurrent_repositories``.
A repository that fails is recorded in the warehouse and dropped from the later steps; the
others go on. ``warehouse_tables`` then materializes only the repositories that were loaded and
fails the step naming every failed repository, so the Partitions page shows exactly which
repositories failed (red) and which were synced (green), and the run is visibly failed.
``dagster job backfill -j repository_sync`` (CLI) launches one run per repository instead.
"""

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar, cast

import dagster as dg
import pyarrow as pa

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.core.models import SyncMode
from prmon_pipeline.sync import SyncOptions
from prmon_pipeline.warehouse import integrity
from prmon_pipeline.warehouse.connection import connect

from . import metadata
from .partitions import repositories_partitions
from .repository_steps import (
    Discovered,
    Fanout,
    changeset_one,
    discover_one,
    for_each_repository,
    load_one,
)
from .resources import GitHubResource, SyncSettings, WarehouseResource
from .tags import GITHUB_API_POOL, REFRESH_CHECKS_TAG, SYNC_MODE_TAG, SYNC_MODES

T = TypeVar("T")
Tables = dict[str, pa.Table]
Changesets = dict[str, Changeset]

PULL_REQUESTS = dg.AssetKey("pull_requests")
CHECK_RUNS = dg.AssetKey("check_runs")
DISCOVERY_GROUP = "github_discovery"
SYNC_GROUP = "warehouse_sync"
SINGLE_RUN = dg.BackfillPolicy.single_run()


def sync_options(context: dg.AssetExecutionContext, settings: SyncSettings) -> SyncOptions:
    """The run's options: mode from the ``prmon/sync_mode`` tag, the run id for the audit row."""
    mode = context.run.tags.get(SYNC_MODE_TAG, "incremental")
    if mode not in SYNC_MODES:
        raise dg.Failure(f"run tag {SYNC_MODE_TAG}={mode!r}: expected one of {SYNC_MODES}")
    days = settings.check_runs_lookback_days
    return SyncOptions(
        mode=cast(SyncMode, mode),
        dagster_run_id=context.run.run_id,
        check_runs_lookback=None if days is None else timedelta(days=days),
        refresh_open_checks=context.run.tags.get(REFRESH_CHECKS_TAG) == "true",
    )


def _raise_if_nothing_left(stage: str, outcome: Fanout[Any]) -> None:
    """One repository (or all of a batch) failed: fail the step the ordinary way."""
    if outcome.failures and not outcome.values:
        raise dg.Failure(
            description="; ".join(outcome.failures.values()),
            metadata={
                "failed_repositories": dg.MetadataValue.md(
                    metadata.failures_markdown(outcome.failures)
                ),
                "stage": stage,
            },
        )


def _mark_failed(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, failures: dict[str, str]
) -> None:
    """Say on each failed repository's partition that it holds nothing from this run."""
    for key, error in failures.items():
        context.add_asset_metadata({"prmon/error": error}, asset_key=asset_key, partition_key=key)


@dg.multi_asset(
    name="discover_repositories",
    outs={
        "pull_requests": dg.AssetOut(
            key=PULL_REQUESTS,
            description="Pull requests GitHub changed since the last sync (all in full mode).",
            group_name=DISCOVERY_GROUP,
            kinds={"github", "pyarrow", "parquet"},
        ),
        "check_runs": dg.AssetOut(
            key=CHECK_RUNS,
            description="Check runs of the head SHAs that needed polling (ETag 304s are free).",
            group_name=DISCOVERY_GROUP,
            kinds={"github", "pyarrow", "parquet"},
        ),
    },
    internal_asset_deps={"pull_requests": set(), "check_runs": {PULL_REQUESTS}},
    partitions_def=repositories_partitions,
    backfill_policy=SINGLE_RUN,
    pool=GITHUB_API_POOL,
)
def discover_repositories(
    context: dg.AssetExecutionContext,
    github: GitHubResource,
    warehouse: WarehouseResource,
    sync_settings: SyncSettings,
) -> Iterator[dg.Output[Tables]]:
    """Ask GitHub what changed in each repository of the run (``sync.discover``)."""
    options = sync_options(context, sync_settings)
    database_url = warehouse.url()

    async def run() -> Fanout[Discovered]:
        async with github.client() as client:
            return await for_each_repository(
                context.partition_keys,
                lambda key: discover_one(client, database_url, key, options),
                sync_settings.max_concurrent_repositories,
            )

    outcome = asyncio.run(run())
    _raise_if_nothing_left("discovery", outcome)
    for key, found in outcome.values.items():
        seconds = outcome.seconds[key]
        context.add_asset_metadata(
            metadata.discovery_metadata(found.result, seconds),
            asset_key=PULL_REQUESTS,
            partition_key=key,
        )
        context.add_asset_metadata(
            metadata.check_runs_metadata(found.result), asset_key=CHECK_RUNS, partition_key=key
        )
    for asset_key in (PULL_REQUESTS, CHECK_RUNS):
        _mark_failed(context, asset_key, outcome.failures)
    yield dg.Output(
        {key: found.pull_requests for key, found in outcome.values.items()},
        output_name="pull_requests",
    )
    yield dg.Output(
        {key: found.check_runs for key, found in outcome.values.items()}, output_name="check_runs"
    )


@dg.asset(
    partitions_def=repositories_partitions,
    backfill_policy=SINGLE_RUN,
    group_name=SYNC_GROUP,
    kinds={"polars", "parquet"},
)
def changeset(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sync_settings: SyncSettings,
    pull_requests: Tables,
    check_runs: Tables,
) -> Changesets:
    """What each repository's load will write: new, updated, deleted rows and what changed."""
    options = sync_options(context, sync_settings)
    database_url = warehouse.url()
    keys = [key for key in context.partition_keys if key in pull_requests and key in check_runs]
    outcome = _in_threads(
        keys,
        lambda key: changeset_one(database_url, key, pull_requests[key], check_runs[key], options),
        sync_settings.max_concurrent_repositories,
    )
    _raise_if_nothing_left("changeset", outcome)
    for key, result in outcome.values.items():
        context.add_asset_metadata(
            metadata.changeset_metadata(result, outcome.seconds[key]), partition_key=key
        )
    _mark_failed(context, context.asset_key, outcome.failures)
    return outcome.values


@dg.asset(
    partitions_def=repositories_partitions,
    backfill_policy=SINGLE_RUN,
    group_name=SYNC_GROUP,
    kinds={"postgres"},
    output_required=False,
)
def warehouse_tables(  # noqa: PLR0917  # Dagster passes resources and inputs by name
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sync_settings: SyncSettings,
    pull_requests: Tables,
    check_runs: Tables,
    changeset: Changesets,
) -> Iterator[dg.Output[None] | dg.AssetMaterialization]:
    """The repository's rows in ``prmon.pull_requests``, ``check_runs`` and ``pr_state_history``.

    Loaded in one transaction per repository with the cursors and the ``sync_runs`` audit row.
    """
    options = sync_options(context, sync_settings)
    database_url = warehouse.url()
    keys = context.partition_keys
    outcome = _in_threads(
        [key for key in keys if key in changeset],
        lambda key: load_one(
            database_url,
            key,
            pull_requests=pull_requests[key],
            check_runs=check_runs[key],
            changeset=changeset[key],
            options=options,
        ),
        sync_settings.max_concurrent_repositories,
    )
    failures = {**_upstream_failures(database_url, keys, changeset), **outcome.failures}
    per_partition = {
        key: {
            **metadata.load_metadata(load, outcome.seconds[key]),
            **_stored_counts(database_url, key),
        }
        for key, load in outcome.values.items()
    }
    if not failures:
        for key, values in per_partition.items():
            context.add_asset_metadata(values, partition_key=key)
        yield dg.Output(None)
        return
    for key, values in per_partition.items():
        yield dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=values)
    raise dg.Failure(
        description=(
            f"{len(failures)} of {len(keys)} repositories failed: {', '.join(sorted(failures))}"
            f" ({len(per_partition)} synced)"
        ),
        metadata={
            "failed_repositories": dg.MetadataValue.md(metadata.failures_markdown(failures)),
            "synced_repositories": dg.MetadataValue.json(sorted(per_partition)),
        },
    )


def _in_threads(keys: list[str], work: Callable[[str], T], limit: int) -> Fanout[T]:
    """Blocking per-repository work in threads, ``limit`` at a time."""

    async def run() -> Fanout[T]:
        return await for_each_repository(keys, lambda key: asyncio.to_thread(work, key), limit)

    return asyncio.run(run())


def _upstream_failures(database_url: str, keys: list[str], loaded: Changesets) -> dict[str, str]:
    """Repositories of the run that an earlier step dropped, with their recorded error."""
    missing = [key for key in keys if key not in loaded]
    if not missing:
        return {}
    with connect(database_url, autocommit=True) as conn:
        return {key: _recorded_error(conn, key) for key in missing}


def _stored_counts(database_url: str, key: str) -> dict[str, Any]:
    with connect(database_url, autocommit=True) as conn:
        counts = integrity.stored_counts(conn, key)
    return {
        "warehouse_pull_requests": counts["pull_requests"],
        "warehouse_pull_requests_deleted": counts["pull_requests_deleted"],
        "warehouse_check_runs": counts["check_runs"],
    }


def _recorded_error(conn: integrity.Conn, key: str) -> str:
    try:
        return integrity.last_error(conn, key) or "failed in an earlier step"
    except Exception as exc:  # an unregistered repository has no row to read
        return str(exc)
