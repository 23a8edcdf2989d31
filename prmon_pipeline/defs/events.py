"""Webhook deliveries in Dagster: a sensor that launches one events run per repository with
pending deliveries, and the asset such a run materializes.

The receiver (``prmon webhooks serve``) only stores deliveries; applying them is a run like any
other, so it shows per partition with its figures (deliveries applied, duplicates, out-of-order
skipped, API requests — 0 unless a payload could not settle a change). ``webhook_events`` is an
asset of its own beside ``warehouse_tables``: the same tables are written, but by a different
path (no discovery, no Parquet hand-over), and its materializations tell the UI which changes
arrived by event rather than by poll.
"""

import asyncio
from typing import Any

import dagster as dg

from prmon_pipeline.sync import SyncOptions
from prmon_pipeline.sync.events import apply_pending_deliveries, repositories_with_deliveries
from prmon_pipeline.sync.results import SyncOutcome

from .assets import api_mode
from .partitions import REPOSITORIES_PARTITIONS_NAME, repositories_partitions
from .resources import GitHubResource, SyncSettings, WarehouseResource
from .sensors import TRIGGER_TAG, repositories_with_unfinished_runs
from .tags import EVENTS_MODE, SYNC_MODE_TAG

WEBHOOK_EVENTS = dg.AssetKey("webhook_events")


@dg.asset(
    partitions_def=repositories_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="warehouse_sync",
    kinds={"postgres"},
)
def webhook_events(
    context: dg.AssetExecutionContext,
    github: GitHubResource,
    warehouse: WarehouseResource,
    sync_settings: SyncSettings,
) -> dg.MaterializeResult[None]:
    """Stored webhook deliveries of the run's repositories, applied to the warehouse tables
    through the same changeset and load as a poll (one transaction per repository)."""
    options = SyncOptions(dagster_run_id=context.run.run_id, api=api_mode(sync_settings))

    async def run() -> list[SyncOutcome]:
        async with github.client() as client:
            round_ = await apply_pending_deliveries(
                warehouse.url(),
                client,
                options,
                keys=context.partition_keys,
                concurrency=sync_settings.max_concurrent_repositories,
            )
            return round_.outcomes

    outcomes = asyncio.run(run())
    failed = {o.repository: str(o.error) for o in outcomes if o.error is not None}
    if failed:
        raise dg.Failure(
            description="; ".join(f"{key}: {error}" for key, error in sorted(failed.items())),
            metadata={"failed_repositories": dg.MetadataValue.json(sorted(failed))},
        )
    for outcome in outcomes:
        if outcome.figures is not None and len(context.partition_keys) > 1:
            context.add_asset_metadata(
                _figures(outcome), partition_key=outcome.repository, asset_key=WEBHOOK_EVENTS
            )
    if len(context.partition_keys) == 1:
        return dg.MaterializeResult(metadata=_single(outcomes))
    return dg.MaterializeResult()


def _figures(outcome: SyncOutcome) -> dict[str, Any]:
    assert outcome.figures is not None
    figures = outcome.figures.as_dict()
    keep = ("api_requests", "prs_new", "prs_updated", "check_runs_new", "check_runs_updated")
    shown = {k: v for k, v in figures.items() if k.startswith("deliveries_") or k in keep}
    return {**shown, "sync_run_id": figures["sync_run_id"] or 0, "sync_mode": EVENTS_MODE}


def _single(outcomes: list[SyncOutcome]) -> dict[str, Any]:
    """One repository's figures; an empty round (another applier was first) says so."""
    for outcome in outcomes:
        if outcome.figures is not None:
            return _figures(outcome)
    return {"deliveries_applied": 0, "api_requests": 0, "sync_mode": EVENTS_MODE}


webhook_events_job = dg.define_asset_job(
    "apply_webhook_events",
    selection=dg.AssetSelection.assets(webhook_events),
    description="Apply one repository's stored webhook deliveries (no polling).",
    tags={SYNC_MODE_TAG: EVENTS_MODE},
)


@dg.sensor(
    job=webhook_events_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Launches one events run per repository with webhook deliveries waiting in"
        " prmon.webhook_deliveries (stored by `prmon webhooks serve`). Costs no rate limit."
    ),
)
def webhook_deliveries_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    """A run per repository with pending deliveries, unless one of its runs is unfinished (the
    pending rows wait for the next tick; the run queue keeps one run per repository anyway)."""
    partitions = set(context.instance.get_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME))
    waiting = [name for name in repositories_with_deliveries(warehouse.url()) if name in partitions]
    busy = repositories_with_unfinished_runs(context.instance)
    ready = [name for name in waiting if name not in busy]
    if waiting:
        context.log.info(
            f"{len(waiting)} repositories with deliveries; {len(waiting) - len(ready)} wait for"
            " a run in progress"
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=name, tags={TRIGGER_TAG: "webhook deliveries"})
            for name in ready
        ]
    )
