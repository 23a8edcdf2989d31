"""Sensors as data: evaluated with built contexts against a real warehouse and fakehub."""

import asyncio
import json

import dagster as dg
import pytest

from prmon_pipeline.core.repo_pattern import RepoPattern
from prmon_pipeline.defs.partitions import REPOSITORIES_PARTITIONS_NAME
from prmon_pipeline.defs.resources import GitHubResource, WarehouseResource
from prmon_pipeline.defs.sensors import (
    TRIGGER_TAG,
    repository_change_sensor,
    repository_registry_sensor,
)
from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import SyncOptions, sync_repositories
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.patterns import add_pattern
from prmon_pipeline.warehouse.repositories import (
    add_repository,
    list_repositories,
    remove_repository,
)
from prmon_pipeline_tests.defs.registration import register
from prmon_pipeline_tests.webhook_envelopes import (
    check_run_body,
    insert_delivery,
    repository_object,
)

pytestmark = pytest.mark.postgres


def _evaluate_registry(
    instance: dg.DagsterInstance,
    warehouse_url: str,
    cursor: str | None,
    hub_url: str = "http://127.0.0.1:9",  # no pattern registered: GitHub is not asked
) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "warehouse": WarehouseResource(dsn=warehouse_url),
            "github": GitHubResource(api_url=hub_url),
        },
    ) as context:
        result = repository_registry_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _apply(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME, request.partition_keys)
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(REPOSITORIES_PARTITIONS_NAME, key)


def _partitions(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.get_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME))


def test_registry_sensor_follows_the_table_and_the_partitions_edited_in_the_ui(
    instance: dg.DagsterInstance, warehouse_url: str
) -> None:
    with connect(warehouse_url, autocommit=True) as conn:
        for name in ("acme/widgets", "acme/gadgets", "acme/retired"):
            add_repository(conn, name)
        remove_repository(conn, "acme/retired")

    first = _evaluate_registry(instance, warehouse_url, None)
    _apply(instance, first)
    assert _partitions(instance) == {"acme/widgets", "acme/gadgets"}
    assert sorted(r.partition_key for r in first.run_requests or []) == [
        "acme/gadgets",
        "acme/widgets",
    ]

    instance.add_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME, ["acme/from-ui"])
    with connect(warehouse_url, autocommit=True) as conn:
        remove_repository(conn, "acme/gadgets")
    second = _evaluate_registry(instance, warehouse_url, first.cursor)
    _apply(instance, second)

    assert _partitions(instance) == {"acme/widgets", "acme/from-ui"}
    assert [r.partition_key for r in second.run_requests or []] == ["acme/from-ui"]
    with connect(warehouse_url, autocommit=True) as conn:
        active = {r.full_name for r in list_repositories(conn)}
    assert active == {"acme/widgets", "acme/from-ui"}
    assert set(json.loads(second.cursor or "[]")) == active

    third = _evaluate_registry(instance, warehouse_url, second.cursor)
    assert not third.run_requests and not third.dynamic_partitions_requests

    instance.delete_dynamic_partition(REPOSITORIES_PARTITIONS_NAME, "acme/widgets")
    fourth = _evaluate_registry(instance, warehouse_url, third.cursor)
    _apply(instance, fourth)
    assert _partitions(instance) == {"acme/from-ui"}
    with connect(warehouse_url, autocommit=True) as conn:
        assert [r.full_name for r in list_repositories(conn)] == ["acme/from-ui"]
    assert not fourth.run_requests


@pytest.fixture
def quiet_world() -> World:
    """A world with no PR events of its own, whose check runs have all finished."""
    world = World(
        WorldConfig(
            seed=5, repositories=3, prs_per_repository=20, check_runs_per_sha=2, events_per_hour=0
        )
    )
    world.advance(20 * 86400)
    return world


def _sync_all(url: str, hub_url: str, names: list[str]) -> None:
    async def run() -> None:
        async with GitHubClient(GitHubConfig(api_url=hub_url)) as client:
            outcomes = await sync_repositories(
                names,
                database_url=url,
                client=client,
                # the sweep of open PRs' check runs, which is what finds a lone re-run; by
                # REST, whose 304s re-read in the same simulated second (GraphQL re-reads a
                # SHA after a minute: test_sync_graphql)
                options=SyncOptions(check_runs_lookback=None, refresh_open_checks=True, api="rest"),
            )
        assert all(o.error is None for o in outcomes), outcomes

    asyncio.run(run())


def _evaluate_change(
    instance: dg.DagsterInstance, warehouse_url: str, hub_url: str
) -> dict[str, str]:
    with dg.build_sensor_context(
        instance=instance,
        resources={
            "warehouse": WarehouseResource(dsn=warehouse_url),
            "github": GitHubResource(api_url=hub_url),
        },
    ) as context:
        result = repository_change_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return {str(r.partition_key): r.tags[TRIGGER_TAG] for r in result.run_requests or []}


def test_change_sensor_requests_runs_only_for_changed_repositories(
    instance: dg.DagsterInstance, warehouse_url: str, quiet_world: World
) -> None:
    names = quiet_world.repository_names()
    with serve(create_app(quiet_world, HubConfig())) as hub_url:
        register(instance, warehouse_url, names)
        assert _evaluate_change(instance, warehouse_url, hub_url) == dict.fromkeys(
            names, "never synced"
        )
        _sync_all(warehouse_url, hub_url, names)
        assert _evaluate_change(instance, warehouse_url, hub_url) == {}

        number = next(iter(quiet_world.pull_requests(names[1])))["number"]
        quiet_world.apply_event(names[1], number, "edit")
        open_pr = next(p for p in quiet_world.pull_requests(names[2]) if p["state"] == "open")
        quiet_world.rerun_check_run(names[2], open_pr["head"]["sha"])
        _sync_all(warehouse_url, hub_url, [names[2]])

        assert _evaluate_change(instance, warehouse_url, hub_url) == {
            names[1]: "pulls changed",
            names[2]: "checks running",
        }
        # once its check runs arrive by webhook, running checks alone no longer cost a poll
        repo = repository_object(quiet_world, names[2])
        run = {"id": 1, "head_sha": open_pr["head"]["sha"], "status": "completed"}
        with connect(warehouse_url, autocommit=True) as conn:
            insert_delivery(conn, "check_run", check_run_body(repo, run), repository=repo)
        assert _evaluate_change(instance, warehouse_url, hub_url) == {names[1]: "pulls changed"}


def test_registry_sensor_follows_a_pattern_on_its_own_cadence(
    instance: dg.DagsterInstance, warehouse_url: str, quiet_world: World
) -> None:
    with serve(create_app(quiet_world, HubConfig())) as hub_url:
        with connect(warehouse_url, autocommit=True) as conn:
            add_pattern(conn, RepoPattern("acme"), include_forks=False, include_archived=False)
        first = _evaluate_registry(instance, warehouse_url, None, hub_url)
        _apply(instance, first)
        names = set(quiet_world.repository_names())
        assert _partitions(instance) == names
        assert {r.partition_key for r in first.run_requests or []} == names

        quiet_world.create_repository("new-service")
        gone = quiet_world.repository_names()[0]
        quiet_world.archive_repository(gone)
        soon = _evaluate_registry(instance, warehouse_url, first.cursor, hub_url)
        assert not soon.run_requests and not soon.dynamic_partitions_requests  # not due yet

        with connect(warehouse_url, autocommit=True) as conn:
            conn.execute(  # ten minutes have passed, as far as the cadence can tell
                "UPDATE prmon.repository_patterns SET last_refreshed_at = now() - interval '1 hour'"
            )
        due = _evaluate_registry(instance, warehouse_url, soon.cursor, hub_url)
        _apply(instance, due)
        assert _partitions(instance) == (names - {gone}) | {"acme/new-service"}
        assert [r.partition_key for r in due.run_requests or []] == ["acme/new-service"]
