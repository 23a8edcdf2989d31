"""Sensors: the registry sensor keeps partitions equal to the registered repositories; the
change sensor requests runs only for repositories that changed on GitHub.

Classic sensors rather than Declarative Automation: "changed on GitHub" is only known by asking
GitHub (a conditional GET whose 304 is free), which no AutomationCondition can express, and the
registry must write dynamic partitions, which only a sensor can.
"""

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from urllib.parse import quote

import dagster as dg

from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.discovery import PULLS_PARAMS
from prmon_pipeline.github.listing import owner_lister
from prmon_pipeline.sync import utc_now
from prmon_pipeline.sync.patterns import due_patterns, refresh_patterns
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.cursors import read_cursors
from prmon_pipeline.warehouse.integrity import repositories_with_pending_checks
from prmon_pipeline.warehouse.patterns import Conn, PatternChanges
from prmon_pipeline.warehouse.repositories import (
    add_repository,
    list_repositories,
    remove_repository,
)
from prmon_pipeline.warehouse.webhook_pending import repositories_with_check_run_deliveries

from .jobs import repository_sync_job
from .partitions import REPOSITORIES_PARTITIONS_NAME, repositories_partitions
from .resources import GitHubResource, WarehouseResource
from .tags import PARTITION_TAG

TRIGGER_TAG = "prmon/trigger"
EVENTS_FLOWING = timedelta(minutes=30)
"""A repository that received a check_run delivery this recently gets its check runs'
completions by webhook: the change sensor no longer runs it just because checks are running
(its pulls are still probed; the hourly refresh still polls everything)."""
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    job=repository_sync_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the repositories partitions equal to the active prmon.repositories rows.",
)
def repository_registry_sensor(
    context: dg.SensorEvaluationContext, github: GitHubResource, warehouse: WarehouseResource
) -> dg.SensorResult:
    """Follow ``owner/*`` patterns, then make the partitions equal the active rows; first runs
    for new repositories.

    Patterns are listed again when due (``PATTERN_REFRESH_INTERVAL``, tracked in the warehouse so
    the cadence survives restarts); that adds new repositories and deactivates archived or gone
    ones, and the partitions follow below like any other registry change.

    The cursor holds the keys that were active and partitions after the previous tick, which
    tells the UI's edits from the CLI's: a partition added in the UI (no row, not known before)
    is registered; a partition deleted in the UI (known before, row still active) deactivates
    its row. ``prmon repos add|remove`` change rows, and partitions follow.
    """
    partitions = set(context.instance.get_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME))
    known_before = set(json.loads(context.cursor)) if context.cursor else set()
    with connect(warehouse.url(), autocommit=True) as conn:
        _refresh_due_patterns(context, github, conn)
        rows = list_repositories(conn, include_inactive=True)
        names = {row.full_name.lower() for row in rows}
        for row in rows:
            if row.active and row.full_name in known_before and row.full_name not in partitions:
                context.log.info(f"{row.full_name}: partition deleted in the UI, deactivating")
                remove_repository(conn, row.full_name)
        registered: list[str] = []
        for key in sorted(partitions - known_before):
            if key.lower() in names:
                continue
            try:
                registered.append(add_repository(conn, parse_repo_key(key)).full_name)
            except ValueError as exc:  # not owner/name: never used in a URL or SQL
                context.log.warning(f"deleting partition {key!r}: {exc}")
        active = {row.full_name for row in list_repositories(conn)}
    new = sorted(active - partitions)
    gone = sorted(partitions - active)
    requests: list[dg.DynamicPartitionsRequest] = []
    if new:
        requests.append(repositories_partitions.build_add_request(new))
    if gone:
        requests.append(repositories_partitions.build_delete_request(gone))
    first_runs = new + [key for key in registered if key in partitions]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=key, tags={TRIGGER_TAG: "registered"}) for key in first_runs
        ],
        dynamic_partitions_requests=requests,
        cursor=json.dumps(sorted(active)),
    )


def _refresh_due_patterns(
    context: dg.SensorEvaluationContext, github: GitHubResource, conn: Conn
) -> None:
    """List the owners of the patterns that are due; a failed listing is logged and recorded."""
    due = due_patterns(conn, utc_now())
    if not due:
        return

    # A tick must stay short: few retries and no long rate-limit wait; the next tick tries again.
    config = replace(github.github_config(), max_retries=2, max_wait_seconds=30.0)

    async def refresh() -> list[PatternChanges]:
        async with GitHubClient(config) as client:
            return await refresh_patterns(conn, owner_lister(client), due, now=utc_now())

    for change in asyncio.run(refresh()):
        if change.error is not None:
            context.log.warning(f"{change.pattern}: listing failed, kept as it was: {change.error}")
            continue
        context.log.info(
            f"{change.pattern}: {change.listed} listed; added {change.added or 'none'},"
            f" deactivated {change.deactivated or 'none'},"
            f" reactivated {change.reactivated or 'none'}, renamed {change.renamed or 'none'}"
        )


@dg.sensor(
    job=repository_sync_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Requests a sync only for repositories whose first pulls page changed (ETag probe; a 304"
        " costs no rate limit) or whose check runs are still running (unless their check runs"
        " arrive by webhook)."
    ),
)
def repository_change_sensor(
    context: dg.SensorEvaluationContext, github: GitHubResource, warehouse: WarehouseResource
) -> dg.SensorResult:
    partitions = set(context.instance.get_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME))
    with connect(warehouse.url(), autocommit=True) as conn:
        repositories = [r for r in list_repositories(conn) if r.full_name in partitions]
        etags = {r.full_name: read_cursors(conn, r.id).pulls_etag for r in repositories}
        pending = repositories_with_pending_checks(conn)
        by_webhook = repositories_with_check_run_deliveries(conn, utc_now() - EVENTS_FLOWING)
    busy = repositories_with_unfinished_runs(context.instance)
    reasons: dict[str, str] = {}
    to_probe: dict[str, str] = {}
    for name, etag in etags.items():
        if name in busy:
            continue
        if etag is None:
            reasons[name] = "never synced"
        elif name in pending and name not in by_webhook:
            reasons[name] = "checks running"
        else:
            to_probe[name] = etag
    changed, errors = asyncio.run(_probe(github, to_probe))
    for name, error in errors.items():
        context.log.warning(f"{name}: probe failed, left to the refresh schedule: {error}")
    reasons.update({name: "pulls changed" for name in changed})
    context.log.info(
        f"probed {len(to_probe)} repositories: {len(changed)} changed,"
        f" {len(to_probe) - len(changed) - len(errors)} unchanged (304);"
        f" {len(busy & set(etags))} skipped with a run in progress"
    )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=name, tags={TRIGGER_TAG: reason})
            for name, reason in sorted(reasons.items())
        ]
    )


async def _probe(github: GitHubResource, etags: dict[str, str]) -> tuple[set[str], dict[str, str]]:
    """Which repositories' first pulls page no longer matches its stored ETag."""
    changed: set[str] = set()
    errors: dict[str, str] = {}
    if not etags:
        return changed, errors
    async with github.client() as client:

        async def one(name: str, etag: str) -> None:
            try:
                if not await _pulls_changed(client, name, etag):
                    return
                changed.add(name)
            except Exception as exc:  # one repository's probe never stops the others
                errors[name] = str(exc)

        await asyncio.gather(*(one(name, etag) for name, etag in etags.items()))
    return changed, errors


async def _pulls_changed(client: GitHubClient, name: str, etag: str) -> bool:
    """GET the first pulls page exactly as discovery does, with ``If-None-Match``."""
    url = "repos/" + quote(str(parse_repo_key(name)), safe="/") + "/pulls"
    response = await client.get(url, params=PULLS_PARAMS, etag=etag, context=name)
    return not response.not_modified


def repositories_with_unfinished_runs(instance: dg.DagsterInstance) -> set[str]:
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED))
    return {run.tags[PARTITION_TAG] for run in runs if PARTITION_TAG in run.tags}
