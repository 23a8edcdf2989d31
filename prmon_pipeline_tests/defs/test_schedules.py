"""Schedules evaluated with built contexts: one run per repository, the right job and mode."""

from datetime import UTC, datetime

import dagster as dg

from prmon_pipeline.definitions import defs
from prmon_pipeline.defs.jobs import full_reconciliation_job, repository_sync_job
from prmon_pipeline.defs.partitions import REPOSITORIES_PARTITIONS_NAME
from prmon_pipeline.defs.schedules import (
    full_reconciliation_schedule,
    repository_refresh_schedule,
)
from prmon_pipeline.defs.tags import SYNC_MODE_TAG

KEYS = ["acme/widgets", "acme/gadgets"]
TICK = datetime(2026, 3, 1, 3, 30, tzinfo=UTC)


def _evaluate(schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    instance.add_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME, KEYS)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, repository_def=defs.get_repository_def()
    ) as context:
        data = schedule.evaluate_tick(context)
    assert data.skip_message is None
    return list(data.run_requests or [])


def test_refresh_requests_one_incremental_run_per_repository(
    instance: dg.DagsterInstance,
) -> None:
    requests = _evaluate(repository_refresh_schedule, instance)
    assert sorted(r.partition_key or "" for r in requests) == sorted(KEYS)
    assert len({r.run_key for r in requests}) == len(KEYS)
    assert repository_refresh_schedule.job_name == repository_sync_job.name
    assert repository_sync_job.tags[SYNC_MODE_TAG] == "incremental"


def test_nightly_reconciliation_runs_the_full_mode_job(instance: dg.DagsterInstance) -> None:
    requests = _evaluate(full_reconciliation_schedule, instance)
    assert sorted(r.partition_key or "" for r in requests) == sorted(KEYS)
    assert full_reconciliation_schedule.job_name == full_reconciliation_job.name
    assert full_reconciliation_job.tags[SYNC_MODE_TAG] == "full"
    assert full_reconciliation_schedule.cron_schedule == "30 3 * * *"


def test_no_repositories_no_runs(instance: dg.DagsterInstance) -> None:
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, repository_def=defs.get_repository_def()
    ) as context:
        data = repository_refresh_schedule.evaluate_tick(context)
    assert not data.run_requests


def test_the_jobs_resolve_in_the_code_location() -> None:
    for name in (repository_sync_job.name, full_reconciliation_job.name):
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "in_process"
