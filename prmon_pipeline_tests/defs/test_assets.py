"""The whole graph materialized for one partition against fakehub and a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from prmon_pipeline.defs.assets import changeset, discover_repositories, warehouse_tables
from prmon_pipeline.defs.checks import ASSET_CHECKS
from prmon_pipeline.defs.partitions import repositories_partitions
from prmon_pipeline.defs.tags import SYNC_MODE_TAG
from prmon_pipeline.fakehub import World
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline_tests.defs.registration import register
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches

pytestmark = pytest.mark.postgres

GRAPH = [discover_repositories, changeset, warehouse_tables, *ASSET_CHECKS]


def _materialization(result: dg.ExecuteInProcessResult, asset: str, key: str) -> dict[str, Any]:
    events = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(asset) and e.partition == key
    ]
    assert len(events) == 1, (asset, key, events)
    return {name: value.value for name, value in events[0].metadata.items()}


def test_one_partition_syncs_the_repository_to_equal_the_simulator(
    instance: dg.DagsterInstance, resources: dict[str, Any], warehouse_url: str, world: World
) -> None:
    name = world.repository_names()[0]
    register(instance, warehouse_url, [name])

    result = dg.materialize(GRAPH, partition_key=name, resources=resources, instance=instance)

    assert result.success
    assert_warehouse_matches(warehouse_url, world, name)
    prs = _materialization(result, "pull_requests", name)
    assert prs["dagster/row_count"] == 30
    assert prs["api_requests"] > 0 and prs["rate_limit_remaining"] is not None
    changes = _materialization(result, "changeset", name)
    assert changes["prs_new"] == 30 and changes["prs_updated"] == 0
    assert "changed_pull_requests" in changes
    loaded = _materialization(result, "warehouse_tables", name)
    assert loaded["prs_new"] == 30 and loaded["warehouse_pull_requests"] == 30
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {spec.name for spec in _check_specs()}
    assert all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks]


def _check_specs() -> list[dg.AssetCheckSpec]:
    return [spec for checks in ASSET_CHECKS for spec in checks.check_specs]


def test_single_run_of_many_repositories_isolates_a_failing_one(
    instance: dg.DagsterInstance, resources: dict[str, Any], warehouse_url: str, world: World
) -> None:
    good = world.repository_names()
    keys = register(instance, warehouse_url, [*good[:2], "acme/vanished", good[2]])

    result = dg.materialize(
        GRAPH,
        instance=instance,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
        raise_on_error=False,
    )

    assert not result.success
    for name in good:
        assert_warehouse_matches(warehouse_url, world, name)
    loaded = {
        e.partition
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("warehouse_tables")
    }
    assert loaded == set(good)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "acme/vanished" in str(failure.step_failure_data.user_failure_data.description)
    with connect(warehouse_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT r.full_name, s.status, s.error FROM prmon.sync_runs s"
            " JOIN prmon.repositories r ON r.id = s.repository_id"
        ).fetchall()
    assert {(name, status) for name, status, _ in rows} == {
        *((name, "succeeded") for name in good),
        ("acme/vanished", "failed"),
    }
    status = instance.get_status_by_partition(
        dg.AssetKey("warehouse_tables"), keys, repositories_partitions
    )
    assert status is not None and status["acme/vanished"] == dg.AssetPartitionStatus.FAILED
    assert {status[name] for name in good} == {dg.AssetPartitionStatus.MATERIALIZED}


def test_the_load_step_reruns_alone_from_persisted_parquet_for_a_range(
    instance: dg.DagsterInstance, resources: dict[str, Any], warehouse_url: str, world: World
) -> None:
    names = world.repository_names()[:2]
    register(instance, warehouse_url, names)
    tags = {
        "dagster/asset_partition_range_start": names[0],
        "dagster/asset_partition_range_end": names[1],
    }
    upstream = dg.materialize(
        GRAPH,
        instance=instance,
        resources=resources,
        tags=tags,
        selection=dg.AssetSelection.assets(discover_repositories, changeset).without_checks(),
    )
    assert upstream.success

    load = dg.materialize(
        GRAPH,
        instance=instance,
        resources=resources,
        tags=tags,
        selection=dg.AssetSelection.assets(warehouse_tables),
    )

    assert load.success
    for name in names:
        assert_warehouse_matches(warehouse_url, world, name)
        assert _materialization(load, "warehouse_tables", name)["prs_new"] == 30
    evaluations = load.get_asset_check_evaluations()
    assert len(evaluations) == 4 and all(e.passed for e in evaluations)


def test_the_full_reconciliation_tag_runs_the_sync_in_full_mode(
    instance: dg.DagsterInstance, resources: dict[str, Any], warehouse_url: str, world: World
) -> None:
    name = world.repository_names()[1]
    register(instance, warehouse_url, [name])

    result = dg.materialize(
        GRAPH,
        partition_key=name,
        resources=resources,
        instance=instance,
        tags={SYNC_MODE_TAG: "full"},
    )

    assert result.success
    assert _materialization(result, "pull_requests", name)["sync_mode"] == "full"
    with connect(warehouse_url, autocommit=True) as conn:
        modes = conn.execute("SELECT mode, dagster_run_id FROM prmon.sync_runs").fetchall()
    assert modes == [("full", result.run_id)]
    assert_warehouse_matches(warehouse_url, world, name)


def test_checks_fail_on_a_contradictory_or_stale_warehouse(
    instance: dg.DagsterInstance, resources: dict[str, Any], warehouse_url: str, world: World
) -> None:
    name = world.repository_names()[2]
    register(instance, warehouse_url, [name])
    assert dg.materialize(GRAPH, partition_key=name, resources=resources, instance=instance).success
    with connect(warehouse_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE prmon.pull_requests SET state = CASE state WHEN 'open' THEN 'closed'"
            " ELSE 'open' END, closed_at = NULL, merged_at = NULL"
            " WHERE number = (SELECT min(number) FROM prmon.pull_requests)"
        )
        conn.execute("UPDATE prmon.repositories SET last_success_at = now() - interval '1 day'")

    checks_job = dg.define_asset_job("checks_only", dg.AssetSelection.checks(*ASSET_CHECKS))
    checks_only = (
        dg.Definitions(
            assets=GRAPH[:3], asset_checks=ASSET_CHECKS, jobs=[checks_job], resources=resources
        )
        .resolve_job_def("checks_only")
        .execute_in_process(
            tags={"dagster/partition": name}, instance=instance, raise_on_error=False
        )
    )

    results = {c.check_name: c for c in checks_only.get_asset_check_evaluations()}
    integrity = results["warehouse_referential_integrity"]
    assert not integrity.passed and integrity.blocking
    assert integrity.metadata["prs_whose_history_ends_elsewhere"].value == 1
    freshness = results["warehouse_freshness"]
    assert not freshness.passed and freshness.severity == dg.AssetCheckSeverity.WARN
    assert results["warehouse_unique_keys"].passed
    assert results["warehouse_matches_discovery"].passed
