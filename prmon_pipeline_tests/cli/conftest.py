"""CLI fixtures: a fresh warehouse per test and a simulated GitHub on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline_tests.databases import throwaway_database


@pytest.fixture
def warehouse_url(server_url: str) -> Iterator[str]:
    yield from throwaway_database(server_url, "prmon_test_cli")


@pytest.fixture
def world() -> World:
    return World(WorldConfig(seed=7, repositories=2, prs_per_repository=40, check_runs_per_sha=4))


@pytest.fixture
def github_url(world: World) -> Iterator[str]:
    with serve(create_app(world, HubConfig())) as url:
        yield url


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, warehouse_url: str, github_url: str) -> None:
    monkeypatch.setenv("PRMON_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("PRMON_GITHUB_API_URL", github_url)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
