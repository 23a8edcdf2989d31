"""Asset checks, per repository partition (a single-run backfill checks all its repositories).

Referential integrity is blocking: a repository whose rows contradict each other fails the run.
Unique keys, agreement with discovery and freshness are reported without stopping anything.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from prmon_pipeline.storage.partition_files import StoredValues
from prmon_pipeline.warehouse import integrity
from prmon_pipeline.warehouse.connection import connect

from .assets import CHECK_RUNS, PULL_REQUESTS, stored_table, warehouse_tables
from .partitions import repositories_partitions
from .resources import SyncSettings, WarehouseResource

Counts = dict[str, int]


def _per_repository(
    keys: list[str], database_url: str, measure: Callable[[integrity.Conn, str], Counts]
) -> dict[str, Counts]:
    with connect(database_url, autocommit=True) as conn:
        return {key: measure(conn, key) for key in keys}


def _result(
    by_repository: dict[str, Counts], failed: Callable[[Counts], bool]
) -> dg.AssetCheckResult:
    """Pass when no repository fails; metadata: the figures (one repository) or the failures."""
    bad = {key: counts for key, counts in by_repository.items() if failed(counts)}
    details: dict[str, Any]
    if len(by_repository) == 1:
        details = dict(next(iter(by_repository.values())))
    else:
        details = {
            "repositories_checked": len(by_repository),
            "failing": dg.MetadataValue.json(bad),
        }
    return dg.AssetCheckResult(passed=not bad, metadata=details)


@dg.asset_check(
    asset=warehouse_tables,
    blocking=True,
    partitions_def=repositories_partitions,
    description="No check run, history row or state of the repository points at a wrong row.",
)
def warehouse_referential_integrity(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    found = _per_repository(
        list(context.partition_keys), warehouse.url(), integrity.integrity_violations
    )
    return _result(found, lambda counts: any(counts.values()))


@dg.asset_check(
    asset=warehouse_tables,
    partitions_def=repositories_partitions,
    description="PR numbers, PR GitHub ids and (PR, check run) keys occur once per repository.",
)
def warehouse_unique_keys(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    found = _per_repository(list(context.partition_keys), warehouse.url(), integrity.duplicate_keys)
    return _result(found, lambda counts: any(counts.values()))


@dg.asset_check(
    asset=PULL_REQUESTS,
    partitions_def=repositories_partitions,
    blocking=True,
    description="Discovery returned each PR number once (the changeset keys on it).",
)
def pull_requests_unique_numbers(
    context: dg.AssetCheckExecutionContext, pull_requests: StoredValues
) -> dg.AssetCheckResult:
    found = {}
    for key in pull_requests:  # one repository's table at a time
        table = stored_table(pull_requests[key])
        found[key] = {
            "rows": table.num_rows,
            "duplicates": table.num_rows - _distinct(table, "number"),
        }
    return _result(found, lambda counts: counts["duplicates"] > 0)


@dg.asset_check(
    asset=warehouse_tables,
    partitions_def=repositories_partitions,
    additional_ins={
        "pull_requests": dg.AssetIn(PULL_REQUESTS),
        "check_runs": dg.AssetIn(CHECK_RUNS),
    },
    description="Every PR and check run the last discovery saw is in the warehouse.",
)
def warehouse_matches_discovery(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    pull_requests: StoredValues,
    check_runs: StoredValues,
) -> dg.AssetCheckResult:
    def measure(conn: integrity.Conn, key: str) -> Counts:
        prs, runs = stored_table(pull_requests[key]), stored_table(check_runs[key])
        numbers = cast(list[int], prs.column("number").to_pylist())
        run_keys = list(
            zip(
                cast(list[int], runs.column("pr_number").to_pylist()),
                cast(list[int], runs.column("github_id").to_pylist()),
                strict=True,
            )
        )
        missing = integrity.missing_from_warehouse(conn, key, numbers, run_keys)
        stored = integrity.stored_counts(conn, key)
        return {
            "discovered_pull_requests": len(set(numbers)),
            "discovered_check_runs": len(set(run_keys)),
            "warehouse_pull_requests": stored["pull_requests"],
            "warehouse_check_runs": stored["check_runs"],
            **missing,
        }

    keys = [key for key in context.partition_keys if key in pull_requests and key in check_runs]
    found = _per_repository(keys, warehouse.url(), measure)
    return _result(found, lambda c: c["pull_requests_missing"] > 0 or c["check_runs_missing"] > 0)


@dg.asset_check(
    asset=warehouse_tables,
    partitions_def=repositories_partitions,
    description="The last successful sync is younger than SyncSettings.freshness_max_age_minutes.",
)
def warehouse_freshness(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    sync_settings: SyncSettings,
) -> dg.AssetCheckResult:
    max_age = timedelta(minutes=sync_settings.freshness_max_age_minutes)
    now = datetime.now(UTC)

    def measure(conn: integrity.Conn, key: str) -> Counts:
        last = integrity.last_success_at(conn, key)
        age = (now - last).total_seconds() if last else -1
        return {"age_seconds": int(age), "max_age_seconds": int(max_age.total_seconds())}

    found = _per_repository(list(context.partition_keys), warehouse.url(), measure)
    result = _result(
        found, lambda c: c["age_seconds"] < 0 or c["age_seconds"] > c["max_age_seconds"]
    )
    return dg.AssetCheckResult(
        passed=result.passed, metadata=result.metadata, severity=dg.AssetCheckSeverity.WARN
    )


def _distinct(table: pa.Table, column: str) -> int:
    return int(pc.count_distinct(table.column(column)).as_py())


ASSET_CHECKS = [
    warehouse_referential_integrity,
    warehouse_unique_keys,
    pull_requests_unique_numbers,
    warehouse_matches_discovery,
    warehouse_freshness,
]
