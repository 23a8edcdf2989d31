"""The applier's edges on PostgreSQL: hostile payload text, a targeted poll GitHub refuses,
the continuous applier woken by NOTIFY, and order independence on the real load."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prmon_pipeline.core.webhook_events import PendingDelivery
from prmon_pipeline.fakehub import FaultSpec, HubConfig, World, WorldConfig, create_app
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import SyncOptions, SyncOutcome
from prmon_pipeline.sync.events import (
    apply_continuously,
    apply_pending_deliveries,
    repositories_with_deliveries,
)
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import add_repository, get_repository
from prmon_pipeline.warehouse.snapshot import read_snapshot
from prmon_pipeline.warehouse.webhook_pending import CHANNEL
from prmon_pipeline_tests.core.test_webhook_properties import History, fold, histories
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.sync_harness import client_for, register
from prmon_pipeline_tests.webhook_envelopes import (
    insert_delivery,
    pull_request_body,
    repository_object,
    served_pull_request,
    statuses,
)
from prmon_pipeline_tests.webhook_objects import REPOSITORY, T0, pr_object

NAME = "acme/widgets"


@pytest.fixture
def warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_events_more")


def refusing_client() -> GitHubClient:
    """A client whose GitHub answers every request 500: no test here may need GitHub."""
    app = httpx.MockTransport(lambda request: httpx.Response(500))
    config = GitHubConfig(api_url="http://github.test", max_retries=1, backoff_base=0.0)
    return GitHubClient(config, transport=app)


def test_hostile_text_is_stored_as_text(warehouse: str) -> None:
    title = "Robert'); DROP TABLE prmon.pull_requests;-- \x00 %(now)s {repository}"
    pr = pr_object(1, 1, title=title, body="\\N\x00", labels=[{"name": "\x00bug"}])
    with connect(warehouse, autocommit=True) as conn:
        add_repository(conn, NAME)
        insert_delivery(
            conn, "pull_request", pull_request_body(REPOSITORY, pr), repository=REPOSITORY
        )
        body = pull_request_body(REPOSITORY, pr, action="x\x00'; DROP TABLE x;--")
        odd = insert_delivery(conn, "pull_request", body, repository=REPOSITORY, action="odd")

    result = asyncio.run(apply_pending_deliveries(warehouse, refusing_client(), SyncOptions()))

    assert result.outcomes[0].error is None
    with connect(warehouse, autocommit=True) as conn:
        prs, _ = read_snapshot(conn, get_repository(conn, NAME).id, None)
        status, reason = statuses(conn)[odd]
    assert prs.column("title").to_pylist() == [title.replace("\x00", "")]
    assert prs.column("body").to_pylist() == ["\\N"]
    assert prs.column("labels").to_pylist() == [["bug"]]
    assert status == "ignored" and "\x00" not in str(reason) and "DROP TABLE x" in str(reason)


def test_a_failed_targeted_poll_is_logged_and_left_to_the_next_poll(
    warehouse: str, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(WorldConfig(seed=5, repositories=1, prs_per_repository=3, events_per_hour=0))
    app = create_app(world, HubConfig())
    client = client_for(app)
    name = world.repository_names()[0]
    register(warehouse, world)
    repo = repository_object(world, name)
    pr = served_pull_request(client, name, world.pull_requests(name)[0]["number"])
    twin = {**pr, "title": "same second, other title"}
    with connect(warehouse, autocommit=True) as conn:
        insert_delivery(conn, "pull_request", pull_request_body(repo, pr), repository=repo)
        insert_delivery(conn, "pull_request", pull_request_body(repo, twin), repository=repo)
    app.state.hub.faults.add(FaultSpec(kind="500"))

    with caplog.at_level(logging.WARNING):
        result = asyncio.run(apply_pending_deliveries(warehouse, client, SyncOptions()))

    (outcome,) = result.outcomes
    assert outcome.figures is not None and outcome.figures.deliveries is not None
    assert outcome.figures.deliveries.polled == 2 and outcome.figures.item_failures
    assert "targeted poll failed" in caplog.text and "next poll repairs" in caplog.text
    with connect(warehouse, autocommit=True) as conn:
        assert {s for s, _ in statuses(conn).values()} == {"applied"}
        failed = conn.execute("SELECT count(*) FROM prmon.sync_runs WHERE status = 'failed'")
        assert failed.fetchone() == (0,)


def test_the_continuous_applier_wakes_on_notify(warehouse: str) -> None:
    with connect(warehouse, autocommit=True) as conn:
        add_repository(conn, NAME)
    seen: list[SyncOutcome] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        def on_result(outcome: SyncOutcome) -> None:
            seen.append(outcome)
            stop.set()

        applier = asyncio.create_task(
            apply_continuously(warehouse, refusing_client(), SyncOptions(), stop, on_result)
        )
        await asyncio.sleep(0.1)
        await asyncio.to_thread(_receive, warehouse)
        await asyncio.wait_for(applier, timeout=120)  # a safety net, not a timing assertion

    asyncio.run(scenario())

    (outcome,) = seen
    assert outcome.figures is not None and outcome.figures.counts.prs_new == 1
    with connect(warehouse, autocommit=True) as conn:
        assert {s for s, _ in statuses(conn).values()} == {"applied"}


def _receive(url: str) -> None:
    """What the receiver does: store a pending delivery, commit, NOTIFY."""
    with connect(url, autocommit=True) as conn:
        body = pull_request_body(REPOSITORY, pr_object(1, 1))
        insert_delivery(conn, "pull_request", body, repository=REPOSITORY)
        conn.execute(f"NOTIFY {CHANNEL}")


# --- order independence on the real load ----------------------------------------------------


@pytest.fixture(scope="module")
def shared_warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_events_order")


def _reset(url: str) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM prmon.webhook_deliveries")
        conn.execute("DELETE FROM prmon.repositories")
        add_repository(conn, NAME)


def _stored(url: str) -> tuple[pa.Table, pa.Table]:
    with connect(url, autocommit=True) as conn:
        return read_snapshot(conn, get_repository(conn, NAME).id, None)


def _by_key(table: pa.Table, key: list[str]) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in key])


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories(), data=st.data())
def test_any_order_and_batching_loads_the_same_rows(
    shared_warehouse: str, history: History, data: st.DataObject
) -> None:
    expected = fold([history.deliveries])
    copies = data.draw(st.lists(st.sampled_from(history.deliveries), max_size=3))
    shuffled: list[PendingDelivery] = data.draw(st.permutations(history.deliveries + copies))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(shuffled)), max_size=2)))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    _reset(shared_warehouse)
    client = refusing_client()
    for batch in batches:
        with connect(shared_warehouse, autocommit=True) as conn:
            for delivery in batch:
                insert_delivery(conn, delivery.event, delivery.body, repository=REPOSITORY)
        round_ = asyncio.run(
            apply_pending_deliveries(shared_warehouse, client, SyncOptions(), now=lambda: T0)
        )
        assert all(o.error is None for o in round_.outcomes)

    prs, runs = _stored(shared_warehouse)

    assert _by_key(prs, ["number"]).equals(_by_key(expected[0], ["number"]))
    run_key = ["pr_number", "github_id"]
    assert _by_key(runs, run_key).equals(_by_key(expected[1], run_key))
    with connect(shared_warehouse, autocommit=True) as conn:
        assert {s for s, _ in statuses(conn).values()} == {"applied"}


def test_the_sensor_sees_repositories_with_fresh_deliveries_only(warehouse: str) -> None:
    with connect(warehouse, autocommit=True) as conn:
        add_repository(conn, NAME)
    assert repositories_with_deliveries(warehouse) == []
    _receive(warehouse)
    assert repositories_with_deliveries(warehouse) == [NAME]
    asyncio.run(apply_pending_deliveries(warehouse, refusing_client(), SyncOptions()))
    assert repositories_with_deliveries(warehouse) == []
