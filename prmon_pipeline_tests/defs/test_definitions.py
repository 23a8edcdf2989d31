"""A snapshot of the code location's graph, so graph changes show up in review."""

import dagster as dg

from prmon_pipeline.definitions import defs
from prmon_pipeline.defs.tags import GITHUB_API_POOL


def test_definitions_snapshot() -> None:
    repository = defs.get_repository_def()  # what `dagster dev` loads: names must not clash
    assert sorted(
        job.name for job in repository.get_all_jobs() if not job.name.startswith("__")
    ) == [
        "apply_webhook_events",
        "full_reconciliation",
        "repository_sync",
    ]
    graph = defs.resolve_asset_graph()
    assets = {
        key.to_user_string(): (
            graph.get(key).group_name,
            sorted(graph.get(key).kinds),
            sorted(k.to_user_string() for k in graph.get(key).parent_keys),
        )
        for key in graph.get_all_asset_keys()
    }
    assert assets == {
        "pull_requests": ("github_discovery", ["github", "parquet", "pyarrow"], []),
        "check_runs": ("github_discovery", ["github", "parquet", "pyarrow"], ["pull_requests"]),
        "changeset": ("warehouse_sync", ["parquet", "polars"], ["check_runs", "pull_requests"]),
        "warehouse_tables": (
            "warehouse_sync",
            ["postgres"],
            ["changeset", "check_runs", "pull_requests"],
        ),
        "webhook_events": ("warehouse_sync", ["postgres"], []),
    }
    checks = {
        (key.asset_key.to_user_string(), key.name, graph.get(key).blocking)
        for key in graph.asset_check_keys
    }
    assert checks == {
        ("pull_requests", "pull_requests_unique_numbers", True),
        ("warehouse_tables", "warehouse_referential_integrity", True),
        ("warehouse_tables", "warehouse_unique_keys", False),
        ("warehouse_tables", "warehouse_matches_discovery", False),
        ("warehouse_tables", "warehouse_freshness", False),
    }
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
        assert node.partitions_def.name == "repositories"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(dg.AssetKey("pull_requests")).pools == {GITHUB_API_POOL}
    assert sorted(s.name for s in defs.sensors or []) == [
        "repository_change_sensor",
        "repository_registry_sensor",
        "webhook_deliveries_sensor",
    ]
    assert sorted(s.name for s in defs.schedules or []) == [
        "full_reconciliation_schedule",
        "repository_refresh_schedule",
    ]
