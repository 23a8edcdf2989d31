"""The webhook path in Dagster: the sensor launches an events run per repository with stored
deliveries, and the run's ``webhook_events`` materialization shows what it applied (issue 16).

fakehub on loopback plays GitHub, the warehouse is a real PostgreSQL; deliveries wrap what
fakehub's REST API serves and are stored as the receiver stores them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dagster as dg
import pytest

from prmon_pipeline.defs.events import (
    WEBHOOK_EVENTS,
    webhook_deliveries_sensor,
    webhook_events,
)
from prmon_pipeline.defs.resources import WarehouseResource
from prmon_pipeline.defs.sensors import TRIGGER_TAG
from prmon_pipeline.fakehub import World
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import sync_repositories
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline_tests.defs.registration import register
from prmon_pipeline_tests.webhook_envelopes import (
    insert_delivery,
    pull_request_body,
    repository_object,
    statuses,
)

pytestmark = pytest.mark.postgres


def _evaluate(instance: dg.DagsterInstance, warehouse_url: str) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, resources={"warehouse": WarehouseResource(dsn=warehouse_url)}
    ) as context:
        result = webhook_deliveries_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


async def _served(config: GitHubConfig, path: str) -> dict[str, Any]:
    async with GitHubClient(config) as client:
        data = (await client.get(path)).data
    assert isinstance(data, dict)
    return data


def _stored_title(warehouse_url: str, name: str, number: int) -> str:
    with connect(warehouse_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT p.title FROM prmon.pull_requests p JOIN prmon.repositories r"
            " ON r.id = p.repository_id WHERE r.full_name = %s AND p.number = %s",
            (name, number),
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_sensor_runs_only_repositories_with_deliveries_and_the_run_applies_them(
    instance: dg.DagsterInstance,
    world: World,
    hub_url: str,
    warehouse_url: str,
    resources: dict[str, Any],
) -> None:
    names = register(instance, warehouse_url, world.repository_names()[:2])
    config = GitHubConfig(api_url=hub_url, token="test-token")

    async def poll() -> None:
        async with GitHubClient(config) as client:
            outcomes = await sync_repositories(names, database_url=warehouse_url, client=client)
        assert all(o.error is None for o in outcomes)

    asyncio.run(poll())
    assert _evaluate(instance, warehouse_url).run_requests == []

    edited, quiet = names
    number = world.pull_requests(edited)[0]["number"]
    world.apply_event(edited, number, "edit")
    pr = asyncio.run(_served(config, f"repos/{edited}/pulls/{number}"))
    repo = repository_object(world, edited)
    with connect(warehouse_url, autocommit=True) as conn:
        delivery = insert_delivery(
            conn, "pull_request", pull_request_body(repo, pr), repository=repo
        )
    assert _stored_title(warehouse_url, edited, number) != pr["title"]

    requests = _evaluate(instance, warehouse_url).run_requests or []
    assert [(r.partition_key, r.tags[TRIGGER_TAG]) for r in requests] == [
        (edited, "webhook deliveries")
    ]

    result = dg.materialize(
        [webhook_events], partition_key=edited, resources=resources, instance=instance
    )
    assert result.success
    materialization = result.asset_materializations_for_node("webhook_events")[0]
    assert materialization.partition == edited
    shown = {k: v.value for k, v in materialization.metadata.items()}
    assert shown["deliveries_applied"] == 1
    assert shown["api_requests"] == 0
    assert shown["prs_updated"] == 1
    assert shown["sync_mode"] == "events"
    assert _stored_title(warehouse_url, edited, number) == pr["title"]
    with connect(warehouse_url, autocommit=True) as conn:
        assert statuses(conn)[delivery][0] == "applied"
    assert _evaluate(instance, warehouse_url).run_requests == []
    assert instance.get_latest_materialization_event(WEBHOOK_EVENTS) is not None
    assert quiet not in {r.partition_key for r in requests}


def test_an_events_run_with_nothing_left_to_apply_says_so(
    instance: dg.DagsterInstance, world: World, warehouse_url: str, resources: dict[str, Any]
) -> None:
    (name,) = register(instance, warehouse_url, world.repository_names()[:1])
    result = dg.materialize(
        [webhook_events], partition_key=name, resources=resources, instance=instance
    )
    shown = result.asset_materializations_for_node("webhook_events")[0].metadata
    assert shown["deliveries_applied"].value == 0
    assert shown["api_requests"].value == 0
