"""Session fixtures: one throwaway PostgreSQL database per test session, migrated, then dropped.

``PRMON_TEST_DATABASE_URL`` names a server to use (CI and the dev machines have PostgreSQL 15 at
127.0.0.1:5432); without it an embedded server is started in a temporary ``PRMON_HOME`` and
stopped at the end, so the suite passes on a machine with no PostgreSQL installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.embedded import start_embedded, stop_embedded
from prmon_pipeline_tests.databases import migrated_throwaway_database


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server's URL (maintenance database), external or embedded."""
    external = os.environ.get("PRMON_TEST_DATABASE_URL")
    if external:
        yield external
        return
    home = tmp_path_factory.mktemp("prmon_home")
    yield start_embedded(home).url
    stop_embedded(home)


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A throwaway database with every migration applied."""
    yield from migrated_throwaway_database(server_url, "prmon_test")


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the migrated test database."""
    with connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def sql_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "sql"
