"""Session fixtures and the test tiers.

One throwaway PostgreSQL database per test session, migrated, then dropped.
``PRMON_TEST_DATABASE_URL`` names a server to use (CI and the dev machines have PostgreSQL 15 at
127.0.0.1:5432); without it an embedded server is started in a temporary ``PRMON_HOME`` and
stopped at the end, so the suite passes on a machine with no PostgreSQL installed.

Tiers: a test is marked ``postgres`` or ``servers`` from the fixtures it requests (every database
fixture depends on ``server_url``), so no test can forget its marker by requesting one.
``pytest --fast`` (``make test-fast``) deselects those and the ``e2e`` tests, and makes starting a
process, binding a server socket or connecting to PostgreSQL an error, so a pure-looking test that
starts a server inline fails there instead of slowing the fast tier down.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest

from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.embedded import start_embedded, stop_embedded
from prmon_pipeline_tests.databases import migrated_throwaway_database

POSTGRES_FIXTURES = frozenset({"server_url"})
SERVER_FIXTURES = frozenset({"github_url", "hub_url", "stack"})
NOT_FAST_MARKERS = ("postgres", "servers", "e2e", "slow")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help="only pure tests: no PostgreSQL, no subprocesses, no server sockets",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the fixtures they request; under ``--fast`` keep only the pure ones."""
    for item in items:
        requested = set(getattr(item, "fixturenames", ()))
        if requested & POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if requested & SERVER_FIXTURES:
            item.add_marker(pytest.mark.servers)
    if not config.getoption("--fast"):
        return
    slow = [i for i in items if any(i.get_closest_marker(m) for m in NOT_FAST_MARKERS)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if i not in slow]


def _refuse(what: str) -> NoReturn:
    raise RuntimeError(
        f"{what} in a fast test: mark the test @pytest.mark.servers (or postgres), or request"
        " the fixture that provides it"
    )


@pytest.fixture(autouse=True)
def _pure_when_fast(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``--fast``, I/O that only the slow tiers may do raises instead of running."""
    if not request.config.getoption("--fast"):
        return
    monkeypatch.setattr(subprocess.Popen, "__init__", lambda *a, **k: _refuse("a subprocess"))
    monkeypatch.setattr(socket.socket, "bind", lambda *a, **k: _refuse("a server socket"))
    monkeypatch.setattr(psycopg.Connection, "connect", lambda *a, **k: _refuse("PostgreSQL"))


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
