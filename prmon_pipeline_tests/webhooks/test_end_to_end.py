"""GitHub's changes reach the warehouse by webhook alone, as a user runs it (issue 16): fakehub
sends signed deliveries over real HTTP to `prmon webhooks serve --apply` (a subprocess), which
stores them before answering and applies them through the same changeset and load as a poll.
Two deliveries are dropped on the way and come back through `prmon webhooks recover` against
fakehub's deliveries API."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from prmon_pipeline.cli import main
from prmon_pipeline.fakehub import (
    HubConfig,
    WebhookFaultSpec,
    WebhookSpec,
    World,
    WorldConfig,
    create_app,
    serve,
)
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import sync_repositories
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.ground_truth import warehouse_tables
from prmon_pipeline_tests.world_truth import expected_pull_requests

pytestmark = [pytest.mark.servers, pytest.mark.postgres]
SECRET = "end-to-end-webhook-secret"
PRMON = (sys.executable, "-m", "prmon_pipeline.cli")


@pytest.fixture
def warehouse_url(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_webhooks_e2e")


def _pending(warehouse_url: str) -> int:
    with connect(warehouse_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM prmon.webhook_deliveries WHERE status = 'pending'"
        ).fetchone()
    assert row is not None
    return int(str(row[0]))


def _statuses(warehouse_url: str) -> dict[str, int]:
    with connect(warehouse_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM prmon.webhook_deliveries GROUP BY status"
        ).fetchall()
    return {str(status): int(str(count)) for status, count in rows}


def _settle(warehouse_url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while _pending(warehouse_url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _pending(warehouse_url) == 0


def _pull_requests_match(warehouse_url: str, world: World, name: str) -> None:
    prs, _ = warehouse_tables(warehouse_url, name)
    expected = pl.from_arrow(expected_pull_requests(world, name, stored=True))
    assert isinstance(expected, pl.DataFrame)
    assert_frame_equal(prs.sort("number"), expected.sort("number"))


def test_changes_arrive_by_webhook_and_dropped_ones_come_back_by_recover(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(
        WorldConfig(
            seed=31,
            repositories=1,
            prs_per_repository=80,
            check_runs_per_sha=2,
            events_per_hour=0,
            # deliveries are stamped by the world's clock, and recover looks back from now
            start=datetime.now(UTC).replace(microsecond=0),
        )
    )
    (name,) = world.repository_names()
    app = create_app(world, HubConfig())
    hub = app.state.hub
    with serve(app) as hub_url:
        config = GitHubConfig(api_url=hub_url, token="test-token")
        with connect(warehouse_url, autocommit=True) as conn:
            add_repository(conn, name)

        async def poll() -> None:
            async with GitHubClient(config) as client:
                outcomes = await sync_repositories(
                    [name], database_url=warehouse_url, client=client
                )
            assert [o.error for o in outcomes] == [None]

        asyncio.run(poll())
        env = {
            **os.environ,
            "PRMON_DATABASE_URL": warehouse_url,
            "PRMON_WEBHOOK_SECRET": SECRET,
            "PRMON_GITHUB_API_URL": hub_url,
            "GITHUB_TOKEN": "test-token",
        }
        process = subprocess.Popen(
            [*PRMON, "webhooks", "serve", "--apply", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            assert "(applying deliveries)" in banner, banner
            receiver_url = banner.split()[4].rstrip(";")
            (hook,) = hub.webhooks.add_hook(
                WebhookSpec(receiver_url, kind="repo", content_type="form", secret=SECRET)
            )
            opened = sorted(
                pr["number"] for pr in world.pull_requests(name) if pr["state"] == "open"
            )
            assert len(opened) >= 5
            for number, kind in zip(opened[:4], ["close", "merge", "edit", "label"], strict=True):
                world.apply_event(name, number, kind)
            assert hub.webhooks.drain(30)
            _settle(warehouse_url)
            _pull_requests_match(warehouse_url, world, name)

            hub.webhooks.faults.add(WebhookFaultSpec("drop", count=2, event="pull_request"))
            for number, kind in zip(
                opened[:5], ["reopen", "label", "close", "edit", "close"], strict=True
            ):
                world.apply_event(name, number, kind)
            assert hub.webhooks.drain(30)
            _settle(warehouse_url)
            prs, _ = warehouse_tables(warehouse_url, name)
            expected = pl.from_arrow(expected_pull_requests(world, name, stored=True))
            assert isinstance(expected, pl.DataFrame)
            assert not prs.sort("number").equals(expected.sort("number"))  # two were dropped

            for variable in ("PRMON_DATABASE_URL", "PRMON_GITHUB_API_URL", "GITHUB_TOKEN"):
                monkeypatch.setenv(variable, env[variable])
            assert main(["webhooks", "recover", "--repo", name, "--hook-id", str(hook.id)]) == 0
            assert hub.webhooks.drain(30)
            _settle(warehouse_url)
            _pull_requests_match(warehouse_url, world, name)
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
            output, errors = process.communicate()
    assert SECRET not in output + errors
    statuses = _statuses(warehouse_url)
    assert statuses.get("rejected", 0) == 0
    assert statuses["applied"] >= 9
    with connect(warehouse_url, autocommit=True) as conn:
        failed = conn.execute(
            "SELECT count(*) FROM prmon.sync_runs WHERE mode = 'events' AND status <> 'succeeded'"
        ).fetchone()
    assert failed == (0,)
