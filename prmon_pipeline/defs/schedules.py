"""Schedules: an hourly incremental refresh and a nightly full reconciliation of every repository.

``build_schedule_from_partitioned_job`` rejects dynamic partitions, so each schedule yields one
run request per current partition. The run key names the tick, so a daemon restart never
launches the same tick twice; the run queue keeps runs of one repository from overlapping.
"""

import dagster as dg

from .jobs import full_reconciliation_job, repository_sync_job
from .partitions import REPOSITORIES_PARTITIONS_NAME
from .tags import REFRESH_CHECKS_TAG


def _one_run_per_repository(
    context: dg.ScheduleEvaluationContext, tags: dict[str, str] | None = None
) -> list[dg.RunRequest]:
    keys = context.instance.get_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME)
    tick = context.scheduled_execution_time.isoformat()
    return [
        dg.RunRequest(run_key=f"{key}@{tick}", partition_key=key, tags=tags or {})
        for key in sorted(keys)
    ]


@dg.schedule(
    job=repository_sync_job,
    cron_schedule="15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly incremental sync of every repository that also sweeps every open PR's "
    "check runs for re-runs (free 304s).",
)
def repository_refresh_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    return _one_run_per_repository(context, {REFRESH_CHECKS_TAG: "true"})


@dg.schedule(
    job=full_reconciliation_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly full sync of every repository: detects deleted PRs.",
)
def full_reconciliation_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    return _one_run_per_repository(context)
