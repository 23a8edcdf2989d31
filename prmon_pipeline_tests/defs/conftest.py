"""Fixtures for the Dagster wiring: fakehub on loopback, a migrated warehouse, a test instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from prmon_pipeline.defs.io_manager import ParquetIOManager
from prmon_pipeline.defs.resources import GitHubResource, SyncSettings, WarehouseResource
from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline_tests.databases import migrated_throwaway_database


@pytest.fixture
def warehouse_url(server_url: str) -> Iterator[str]:
    """A migrated database of its own per test (the defs tests write and compare whole repos)."""
    yield from migrated_throwaway_database(server_url, "prmon_test_defs")


@pytest.fixture
def world() -> World:
    return World(WorldConfig(seed=7, repositories=3, prs_per_repository=30, check_runs_per_sha=3))


@pytest.fixture
def hub_url(world: World) -> Iterator[str]:
    with serve(create_app(world, HubConfig())) as url:
        yield url


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def resources(hub_url: str, warehouse_url: str, tmp_path: Path) -> dict[str, Any]:
    """The production resources pointed at fakehub, the test database and a temp directory."""
    return {
        "github": GitHubResource(api_url=hub_url, token="test-token"),
        "warehouse": WarehouseResource(dsn=warehouse_url),
        "sync_settings": SyncSettings(check_runs_lookback_days=None),
        "io_manager": ParquetIOManager(base_dir=str(tmp_path / "io")),
    }
