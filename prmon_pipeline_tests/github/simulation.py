"""Test doubles around fakehub: a fake clock, a tiny in-memory warehouse, ground truth tables."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pyarrow as pa

from prmon_pipeline.core.discovery_plan import KnownPullRequest, known_pull_requests_from_arrow
from prmon_pipeline.core.models import SyncCursors, SyncMode
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.github.discovery import DiscoveryResult, discover_repository
from prmon_pipeline_tests.world_truth import expected_check_runs, expected_pull_requests

API = "http://fakehub.test"


@dataclass
class FakeClock:
    """Epoch seconds that only move when the code under test sleeps: no real waiting."""

    now: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    sleeps: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


def make_hub(world: World, clock: FakeClock, **config: Any) -> Any:
    """A fakehub Starlette app whose rate-limit windows follow ``clock``."""
    return create_app(world, HubConfig(clock=clock.time, **config))


def delayed(app: Any, seconds: float = 0.002) -> Any:
    """``app`` answering after a real pause, so concurrent requests are really in flight
    together (in-process ASGI otherwise runs each request to its end before the next starts)."""

    async def slowly(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return slowly


def make_client(
    app: Any,
    clock: FakeClock,
    transport: httpx.AsyncBaseTransport | None = None,
    **config: Any,
) -> GitHubClient:
    return GitHubClient(
        GitHubConfig(api_url=API, **config),
        transport=transport or httpx.ASGITransport(app=app),
        sleep=clock.sleep,
        clock=clock.time,
    )


def small_world(**overrides: Any) -> World:
    settings: dict[str, Any] = {"seed": 7, "repositories": 2, "prs_per_repository": 120}
    settings.update(overrides)
    return World(WorldConfig(**settings))


def truth_pull_requests(world: World, repository: str) -> pa.Table:
    """Every PR as discovery must emit it (by number), from the world model, not the parser."""
    return expected_pull_requests(world, repository, stored=False)


def truth_check_runs(world: World, repository: str) -> pa.Table:
    """Every run of every PR's current head, one row per (PR, run), as discovery emits them."""
    return expected_check_runs(world, repository)


def sort_prs(table: pa.Table) -> pa.Table:
    """PRs by number: discovery returns them as walked (newest-updated first)."""
    return table.sort_by("number")


def sort_runs(table: pa.Table) -> pa.Table:
    return table.sort_by([("pr_number", "ascending"), ("github_id", "ascending")])


def rows_by_key(table: pa.Table, key: Callable[[dict[str, Any]], Any]) -> dict[Any, dict[str, Any]]:
    return {key(row): row for row in table.to_pylist()}


def run_key(row: dict[str, Any]) -> tuple[int, int]:
    return (row["pr_number"], row["github_id"])


@dataclass
class Warehouse:
    """What the loader would hold after applying discovery results (latest row wins)."""

    pull_requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    check_runs: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    cursors: SyncCursors = field(default_factory=SyncCursors)

    def apply(self, result: DiscoveryResult) -> None:
        for row in result.pull_requests.to_pylist():
            self.pull_requests[row["number"]] = row
        for row in result.check_runs.to_pylist():
            self.check_runs[run_key(row)] = row
        self.cursors = result.cursors

    def known(self) -> dict[int, KnownPullRequest]:
        prs = pa.Table.from_pylist(list(self.pull_requests.values()), PULL_REQUEST_SCHEMA)
        runs = pa.Table.from_pylist(list(self.check_runs.values()), CHECK_RUN_SCHEMA)
        return known_pull_requests_from_arrow(prs, runs)


async def discover(
    client: GitHubClient,
    world: World,
    repository: str,
    warehouse: Warehouse,
    mode: SyncMode = "incremental",
    **options: Any,
) -> DiscoveryResult:
    """Discover with the warehouse's cursors and known PRs, then apply the result to it."""
    options.setdefault("check_runs_lookback", None)
    options.setdefault("overlap", timedelta(minutes=5))
    result = await discover_repository(
        client,
        repository,
        warehouse.cursors,
        warehouse.known(),
        mode=mode,
        now=world.now,
        **options,
    )
    warehouse.apply(result)
    return result
