"""Webhook deliveries applied to a real warehouse: the same rows a poll stores, in any order,
once, with targeted polls only where the payloads cannot settle a change (issue 16).

GitHub is fakehub over httpx's ASGI transport; every delivery wraps what its REST API serves
(``webhook_envelopes``) and is stored in ``prmon.webhook_deliveries`` as the receiver would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.sync import SyncOptions, event_load
from prmon_pipeline.sync.events import EventRound, apply_pending_deliveries
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import get_repository
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches, warehouse_tables
from prmon_pipeline_tests.sync_harness import client_for, register
from prmon_pipeline_tests.webhook_envelopes import (
    check_run_body,
    check_suite_body,
    insert_delivery,
    pull_request_body,
    repository_object,
    served_check_runs,
    served_pull_request,
    statuses,
)

Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_events")


@pytest.fixture
def world() -> World:
    """A quiet world: only what a test does changes it (check runs still progress on advance)."""
    return World(
        WorldConfig(
            seed=16, repositories=1, prs_per_repository=12, check_runs_per_sha=2, events_per_hour=0
        )
    )


@pytest.fixture
def client(world: World) -> GitHubClient:
    return client_for(create_app(world, HubConfig()))


def apply(url: str, client: GitHubClient, world: World) -> EventRound:
    return asyncio.run(apply_pending_deliveries(url, client, SyncOptions(), now=lambda: world.now))


def deliver_world(
    conn: Conn, client: GitHubClient, world: World, name: str, *, fork_runs: bool = False
) -> list[int]:
    """One delivery per PR and per check run of its head, as fakehub serves them now."""
    repo = repository_object(world, name)
    ids = []
    for number in sorted(pr["number"] for pr in world.pull_requests(name)):
        pr = served_pull_request(client, name, number)
        ids.append(
            insert_delivery(conn, "pull_request", pull_request_body(repo, pr), repository=repo)
        )
        for served in served_check_runs(client, name, pr["head"]["sha"]):
            run = {**served, "pull_requests": []} if fork_runs else served
            body = check_run_body(repo, run)
            ids.append(insert_delivery(conn, "check_run", body, repository=repo))
    return ids


def figures_of(result: EventRound) -> Any:
    (outcome,) = result.outcomes
    assert outcome.error is None, outcome.error
    assert outcome.figures is not None and outcome.figures.deliveries is not None
    return outcome.figures


def test_deliveries_store_what_a_poll_would(
    warehouse: str, world: World, client: GitHubClient
) -> None:
    name = world.repository_names()[0]
    register(warehouse, world)
    with connect(warehouse, autocommit=True) as conn:
        ids = deliver_world(conn, client, world, name)
    requests_before = client.counters.requests

    figures = figures_of(apply(warehouse, client, world))

    assert_warehouse_matches(warehouse, world, name)
    assert client.counters.requests == requests_before  # not one request to GitHub
    assert figures.mode == "events" and figures.cost.requests == 0
    assert figures.deliveries.applied == len(ids) and figures.counts.prs_new == 12
    with connect(warehouse, autocommit=True) as conn:
        assert {s for s, _ in statuses(conn).values()} == {"applied"}
        run = conn.execute(
            "SELECT mode, status, api_requests, prs_new FROM prmon.sync_runs WHERE id = %s",
            (figures.sync_run_id,),
        ).fetchone()
        assert run == ("events", "succeeded", 0, 12)
        linked = conn.execute(
            "SELECT count(*) FROM prmon.webhook_deliveries WHERE sync_run_id = %s"
            " AND applied_at IS NOT NULL",
            (figures.sync_run_id,),
        ).fetchone()
        assert linked == (len(ids),)
        history = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE from_state IS NULL)"
            " FROM prmon.pr_state_history"
        ).fetchone()
        assert history == (12, 12)  # first seen, as a poll records them


def test_an_older_delivery_after_a_newer_one_changes_nothing(
    warehouse: str, world: World, client: GitHubClient
) -> None:
    name = world.repository_names()[0]
    number = next(pr["number"] for pr in world.pull_requests(name) if pr["state"] == "open")
    register(warehouse, world)
    repo = repository_object(world, name)
    old = served_pull_request(client, name, number)
    world.advance(60)
    world.apply_event(name, number, "close")
    new = served_pull_request(client, name, number)
    assert new["updated_at"] > old["updated_at"] and new["state"] == "closed"
    with connect(warehouse, autocommit=True) as conn:
        deliver_world(conn, client, world, name)
        late = insert_delivery(conn, "pull_request", pull_request_body(repo, old), repository=repo)

    figures = figures_of(apply(warehouse, client, world))
    assert figures.deliveries.out_of_order_skipped == 1
    with connect(warehouse, autocommit=True) as conn:
        later = insert_delivery(conn, "pull_request", pull_request_body(repo, old), repository=repo)
    again = figures_of(apply(warehouse, client, world))

    assert again.deliveries.out_of_order_skipped == 1 and again.counts.rows_written == 0
    assert_warehouse_matches(warehouse, world, name)
    with connect(warehouse, autocommit=True) as conn:
        marked = statuses(conn)
        assert marked[late][0] == marked[later][0] == "applied"
        assert "newer" in str(marked[later][1])
        states = conn.execute(
            "SELECT h.to_state FROM prmon.pr_state_history h JOIN prmon.pull_requests p"
            " ON p.id = h.pull_request_id WHERE p.number = %s ORDER BY h.id",
            (number,),
        ).fetchall()
        assert states == [("closed",)]  # first seen closed; the late 'open' rewrote nothing


def test_a_duplicate_applies_once(warehouse: str, world: World, client: GitHubClient) -> None:
    name = world.repository_names()[0]
    number = world.pull_requests(name)[0]["number"]
    register(warehouse, world)
    repo = repository_object(world, name)
    body = pull_request_body(repo, served_pull_request(client, name, number))
    with connect(warehouse, autocommit=True) as conn:
        guid = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
        insert_delivery(conn, "pull_request", body, repository=repo, guid=guid, hook_id=1)
        insert_delivery(conn, "pull_request", body, repository=repo, guid=guid, hook_id=2)
    first = figures_of(apply(warehouse, client, world))
    with connect(warehouse, autocommit=True) as conn:
        insert_delivery(conn, "pull_request", body, repository=repo)  # a redelivery, later
    second = figures_of(apply(warehouse, client, world))

    assert (first.deliveries.applied, first.deliveries.duplicates) == (1, 1)
    assert (second.deliveries.applied, second.deliveries.duplicates) == (0, 1)
    assert first.counts.prs_new == 1 and second.counts.rows_written == 0
    with connect(warehouse, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM prmon.pull_requests").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM prmon.pr_state_history").fetchone() == (1,)


def test_a_fork_prs_check_run_attaches_by_head_sha(
    warehouse: str, world: World, client: GitHubClient
) -> None:
    name = world.repository_names()[0]
    register(warehouse, world)
    repo = repository_object(world, name)
    with connect(warehouse, autocommit=True) as conn:  # the PRs first, their runs later
        for pr in world.pull_requests(name):
            body = pull_request_body(repo, served_pull_request(client, name, pr["number"]))
            insert_delivery(conn, "pull_request", body, repository=repo)
    apply(warehouse, client, world)
    with connect(warehouse, autocommit=True) as conn:
        conn.execute("DELETE FROM prmon.webhook_deliveries")
        deliver_world(conn, client, world, name, fork_runs=True)  # pull_requests: [] everywhere

    figures = figures_of(apply(warehouse, client, world))

    assert figures.counts.check_runs_new > 0 and figures.deliveries.parked == 0
    assert_warehouse_matches(warehouse, world, name)


def test_equal_updated_at_with_other_content_fetches_that_pr_once(
    warehouse: str, world: World, client: GitHubClient
) -> None:
    name = world.repository_names()[0]
    number = world.pull_requests(name)[0]["number"]
    register(warehouse, world)
    repo = repository_object(world, name)
    pr = served_pull_request(client, name, number)
    twin = {**pr, "title": pr["title"] + " (edited in the same second)"}
    with connect(warehouse, autocommit=True) as conn:
        insert_delivery(conn, "pull_request", pull_request_body(repo, twin), repository=repo)
        insert_delivery(conn, "pull_request", pull_request_body(repo, pr), repository=repo)

    figures = figures_of(apply(warehouse, client, world))

    assert figures.cost.requests == 1 and figures.deliveries.polled == 2
    prs, _ = warehouse_tables(warehouse, name)
    assert prs["title"].to_list() == [pr["title"]]  # GitHub's answer, not a guess
    with connect(warehouse, autocommit=True) as conn:
        modes = conn.execute(
            "SELECT mode, api_requests FROM prmon.sync_runs ORDER BY id"
        ).fetchall()
    assert modes == [("events", 0), ("events", 1)]


def test_check_suite_completed_polls_that_sha(
    warehouse: str, world: World, client: GitHubClient
) -> None:
    name = world.repository_names()[0]
    register(warehouse, world)
    repo = repository_object(world, name)
    pr = next(
        p
        for p in (served_pull_request(client, name, q["number"]) for q in world.pull_requests(name))
        if served_check_runs(client, name, p["head"]["sha"])
    )
    with connect(warehouse, autocommit=True) as conn:
        insert_delivery(conn, "pull_request", pull_request_body(repo, pr), repository=repo)
        body = check_suite_body(repo, pr["head"]["sha"])
        insert_delivery(conn, "check_suite", body, repository=repo)

    figures = figures_of(apply(warehouse, client, world))

    expected = served_check_runs(client, name, pr["head"]["sha"])
    assert figures.cost.requests == 1 and figures.deliveries.polled == 1
    assert figures.counts.check_runs_new == len(expected) > 0
    _, runs = warehouse_tables(warehouse, name)
    assert sorted(runs["github_id"].to_list()) == sorted(r["id"] for r in expected)


def test_a_completed_suite_whose_runs_are_stored_completed_costs_no_request(
    warehouse: str, world: World, client: GitHubClient
) -> None:
    name = world.repository_names()[0]
    register(warehouse, world)
    repo = repository_object(world, name)
    pr, runs = next(
        (p, runs)
        for p in (served_pull_request(client, name, q["number"]) for q in world.pull_requests(name))
        if (runs := served_check_runs(client, name, p["head"]["sha"]))
        and all(r["status"] == "completed" for r in runs)
    )
    sha = pr["head"]["sha"]
    slugs = {r["app"]["slug"] for r in runs}
    with connect(warehouse, autocommit=True) as conn:
        insert_delivery(conn, "pull_request", pull_request_body(repo, pr), repository=repo)
        for run in runs:
            insert_delivery(conn, "check_run", check_run_body(repo, run), repository=repo)
        for slug in sorted(slugs):
            count = sum(r["app"]["slug"] == slug for r in runs)
            body = check_suite_body(repo, sha, slug, count)
            insert_delivery(conn, "check_suite", body, repository=repo)
        # a suite claiming one run more than stored: the net that catches a lost run
        missing = insert_delivery(
            conn, "check_suite", check_suite_body(repo, sha, "other-app", 1), repository=repo
        )

    figures = figures_of(apply(warehouse, client, world))

    assert figures.cost.requests == 1 and figures.deliveries.polled == 1  # only "other-app"
    assert figures.deliveries.duplicates >= len(slugs)
    with connect(warehouse, autocommit=True) as conn:
        assert statuses(conn)[missing] == ("applied", f"check suite completed: poll {sha}")
    _, stored = warehouse_tables(warehouse, name)
    assert sorted(stored.filter(stored["head_sha"] == sha)["github_id"].to_list()) == sorted(
        r["id"] for r in runs
    )


def test_a_delivery_of_an_unregistered_repository_is_ignored(
    warehouse: str, world: World, client: GitHubClient
) -> None:
    name = world.repository_names()[0]
    repo = repository_object(world, name)  # never registered
    pr = served_pull_request(client, name, world.pull_requests(name)[0]["number"])
    with connect(warehouse, autocommit=True) as conn:
        delivery = insert_delivery(
            conn, "pull_request", pull_request_body(repo, pr), repository=repo
        )

    result = apply(warehouse, client, world)

    assert result.outcomes == [] and result.unregistered == 1
    with connect(warehouse, autocommit=True) as conn:
        status, reason = statuses(conn)[delivery]
        assert status == "ignored" and "not registered" in str(reason)
        assert conn.execute("SELECT count(*) FROM prmon.pull_requests").fetchone() == (0,)


def test_a_crash_before_commit_leaves_the_deliveries_pending(
    warehouse: str, world: World, client: GitHubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = world.repository_names()[0]
    register(warehouse, world)
    with connect(warehouse, autocommit=True) as conn:
        ids = deliver_world(conn, client, world, name)
    marked = event_load.mark_deliveries

    def crash(*args: Any, **kwargs: Any) -> None:
        marked(*args, **kwargs)  # everything is written, then the process dies before COMMIT
        raise RuntimeError("killed between the load and its commit")

    monkeypatch.setattr(event_load, "mark_deliveries", crash)
    crashed = apply(warehouse, client, world)
    assert crashed.outcomes[0].error is not None and crashed.outcomes[0].error.recorded
    with connect(warehouse, autocommit=True) as conn:
        assert {s for s, _ in statuses(conn).values()} == {"pending"}
        assert conn.execute("SELECT count(*) FROM prmon.pull_requests").fetchone() == (0,)
    monkeypatch.setattr(event_load, "mark_deliveries", marked)

    figures = figures_of(apply(warehouse, client, world))

    assert figures.deliveries.applied == len(ids)
    assert_warehouse_matches(warehouse, world, name)
    with connect(warehouse, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM prmon.pr_state_history").fetchone() == (12,)


def test_a_rename_delivery_moves_the_registry_row(
    warehouse: str, world: World, client: GitHubClient
) -> None:
    name = world.repository_names()[0]
    register(warehouse, world)
    with connect(warehouse, autocommit=True) as conn:
        before = get_repository(conn, name)
    world.rename_repository(name, "gadgets")
    new_name = f"{name.split('/')[0]}/gadgets"
    repo = repository_object(world, new_name)
    body = orjson.dumps(
        {
            "action": "renamed",
            "changes": {"repository": {"name": {"from": name.split("/")[1]}}},
            "repository": repo,
            "sender": {"login": "octocat"},
        }
    )
    with connect(warehouse, autocommit=True) as conn:
        conn.execute(
            "UPDATE prmon.repositories SET github_id = %s WHERE id = %s", (repo["id"], before.id)
        )
        insert_delivery(conn, "repository", body, repository=repo)

    figures = figures_of(apply(warehouse, client, world))

    assert figures.renamed_to == new_name and figures.deliveries.applied == 1
    with connect(warehouse, autocommit=True) as conn:
        after = get_repository(conn, new_name)
    assert after.id == before.id and after.full_name == new_name
