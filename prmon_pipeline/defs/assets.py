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
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar, cast

import dagster as dg
import pyarrow as pa

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.core.models import API_MODES, ApiMode, SyncMode
from prmon_pipeline.storage.partition_files import SpilledValues, Stored, StoredValues
from prmon_pipeline.sync import SyncOptions
from prmon_pipeline.sync.fanout import Fanout, for_each_repository
from prmon_pipeline.sync.options import lookback
from prmon_pipeline.sync.results import one_line
from prmon_pipeline.sync.runner import changeset_step, discover_step, load_step
from prmon_pipeline.warehouse import integrity
from prmon_pipeline.warehouse.connection import connect

from . import metadata
from .discovery_receipt import attach_receipt, restore_discovery
from .partitions import repositories_partitions
from .resources import GitHubResource, SyncSettings, WarehouseResource
from .tags import GITHUB_API_POOL, REFRESH_CHECKS_TAG, SYNC_MODE_TAG, SYNC_MODES

T = TypeVar("T")
Tables = StoredValues
"""A step's input: one repository's table or changeset by key, read when looked up."""
Metadata = dict[str, Any]

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
    return SyncOptions(
        mode=cast(SyncMode, mode),
        dagster_run_id=context.run.run_id,
        check_runs_lookback=lookback(settings.check_runs_lookback_days),
        refresh_open_checks=context.run.tags.get(REFRESH_CHECKS_TAG) == "true",
        api=api_mode(settings),
    )


def api_mode(settings: SyncSettings) -> ApiMode:
    """``SyncSettings.api`` checked: a typo fails the run with the modes there are."""
    if settings.api not in API_MODES:
        raise dg.Failure(f"SyncSettings.api={settings.api!r}: expected one of {API_MODES}")
    return settings.api


def _fan_out(
    keys: list[str], work: Callable[[str], Awaitable[T]], settings: SyncSettings
) -> Fanout[T]:
    """The step's per-repository work through the sync service's one bounded fan-out."""
    return asyncio.run(for_each_repository(keys, work, settings.max_concurrent_repositories))


def _failures(outcome: Fanout[Any]) -> dict[str, str]:
    return {key: one_line(error) for key, error in outcome.errors.items()}


def _raise_if_nothing_left(stage: str, outcome: Fanout[Any]) -> None:
    """One repository (or all of a batch) failed: fail the step the ordinary way."""
    if outcome.errors and not outcome.values:
        failures = _failures(outcome)
        raise dg.Failure(
            description="; ".join(failures.values()),
            metadata={
                "failed_repositories": dg.MetadataValue.md(metadata.failures_markdown(failures)),
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
) -> Iterator[dg.Output[SpilledValues]]:
    """Ask GitHub what changed in each repository of the run (``sync.runner.discover_step``).

    Each repository's tables are written to disk as soon as its discovery ends, so the step
    holds at most ``max_concurrent_repositories`` repositories' tables at once.
    """
    options = sync_options(context, sync_settings)
    database_url = warehouse.url()
    pull_requests, check_runs = SpilledValues(), SpilledValues()

    async def run() -> Fanout[tuple[Metadata, Metadata]]:
        async with github.client() as client:

            async def one(key: str) -> tuple[Metadata, Metadata]:
                start = asyncio.get_running_loop().time()
                found, started_at = await discover_step(client, database_url, key, options)
                seconds = asyncio.get_running_loop().time() - start
                await asyncio.to_thread(pull_requests.put, key, attach_receipt(found, started_at))
                await asyncio.to_thread(check_runs.put, key, found.check_runs)
                return (
                    metadata.discovery_metadata(found, seconds),
                    metadata.check_runs_metadata(found),
                )

            return await for_each_repository(
                context.partition_keys, one, sync_settings.max_concurrent_repositories
            )

    outcome = asyncio.run(run())
    _raise_if_nothing_left("discovery", outcome)
    for key, (pr_metadata, runs_metadata) in outcome.values.items():
        context.add_asset_metadata(pr_metadata, asset_key=PULL_REQUESTS, partition_key=key)
        context.add_asset_metadata(runs_metadata, asset_key=CHECK_RUNS, partition_key=key)
    for asset_key in (PULL_REQUESTS, CHECK_RUNS):
        _mark_failed(context, asset_key, _failures(outcome))
    yield dg.Output(pull_requests, output_name="pull_requests")
    yield dg.Output(check_runs, output_name="check_runs")


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
) -> SpilledValues:
    """What each repository's load will write: new, updated, deleted rows and what changed."""
    options = sync_options(context, sync_settings)
    database_url = warehouse.url()
    keys = [key for key in context.partition_keys if key in pull_requests and key in check_runs]
    changesets = SpilledValues()

    async def one(key: str) -> Metadata:
        start = asyncio.get_running_loop().time()
        discovery, started_at = await asyncio.to_thread(_restore, pull_requests, check_runs, key)
        result = await changeset_step(
            database_url, key, discovery, options=options, started_at=started_at
        )
        seconds = asyncio.get_running_loop().time() - start
        await asyncio.to_thread(changesets.put, key, result)
        return metadata.changeset_metadata(result, seconds)

    outcome = _fan_out(keys, one, sync_settings)
    _raise_if_nothing_left("changeset", outcome)
    for key, values in outcome.values.items():
        context.add_asset_metadata(values, partition_key=key)
    _mark_failed(context, context.asset_key, _failures(outcome))
    return changesets


def _restore(pull_requests: Tables, check_runs: Tables, key: str) -> Any:
    """One repository's discovery, read back from the files of the discovery step."""
    return restore_discovery(stored_table(pull_requests[key]), stored_table(check_runs[key]))


def stored_table(value: Stored) -> pa.Table:
    if not isinstance(value, pa.Table):
        raise dg.Failure(f"expected an Arrow table, found {type(value).__name__}")
    return value


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
    changeset: Tables,
) -> Iterator[dg.Output[None] | dg.AssetMaterialization]:
    """The repository's rows in ``prmon.pull_requests``, ``check_runs`` and ``pr_state_history``.

    Loaded in one transaction per repository with the cursors and the ``sync_runs`` audit row.
    """
    options = sync_options(context, sync_settings)
    database_url = warehouse.url()
    keys = context.partition_keys

    async def one(key: str) -> Metadata:
        discovery, started_at = await asyncio.to_thread(_restore, pull_requests, check_runs, key)
        result = changeset[key]
        if not isinstance(result, Changeset):
            raise dg.Failure(f"{key}: expected a changeset, found {type(result).__name__}")
        load, seconds = await load_step(
            database_url, key, discovery, result, options=options, started_at=started_at
        )
        stored = await asyncio.to_thread(_stored_counts, database_url, key)
        return {**metadata.load_metadata(load, seconds), **stored}

    outcome = _fan_out([key for key in keys if key in changeset], one, sync_settings)
    failures = {**_upstream_failures(database_url, keys, changeset), **_failures(outcome)}
    per_partition = outcome.values
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


def _upstream_failures(database_url: str, keys: list[str], loaded: Tables) -> dict[str, str]:
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
