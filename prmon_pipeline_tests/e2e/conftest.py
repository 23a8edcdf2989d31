"""A real deployment on loopback: fakehub, dagster-webserver and dagster-daemon with a temporary
DAGSTER_HOME holding the project's production ``dagster.yaml`` (Postgres storage, run queue,
pools), a throwaway warehouse and a throwaway Dagster storage database.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline.warehouse.connection import connect, sqlalchemy_url
from prmon_pipeline.warehouse.migrations import migrate
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline_tests.databases import throwaway_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
QUIET_DAYS = 20
REPOSITORY = {"repositoryLocationName": "prmon", "repositoryName": "__repository__"}


@dataclass
class Stack:
    """The running deployment and what the tests need to drive and check it."""

    url: str
    world: World
    warehouse_url: str
    names: list[str]
    home: Path
    env: dict[str, str]

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        assert response.status_code == 200, response.text[-3000:]
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the process group this fixture started (the server and its code-server children)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"dagster-webserver not ready:\n{log.read_text()[-3000:]}")


ADD_PARTITION = """
mutation($repo: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: "repositories",
                      partitionKey: $key) {
    __typename
    ... on PythonError { message }
  }
}
"""


@pytest.fixture(scope="module")
def stack(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    # The deployment polls check runs of PRs closed in the last 30 days only (the default
    # look-back): a world whose whole history is recent, ending now, is mirrored exactly.
    world = World(
        WorldConfig(
            seed=21,
            repositories=3,
            prs_per_repository=25,
            check_runs_per_sha=2,
            events_per_hour=0,
            start=datetime.now(UTC) - timedelta(days=QUIET_DAYS),
            history_days=5,
        )
    )
    world.advance(QUIET_DAYS * 86400)  # every check run has finished: only explicit changes remain
    names = world.repository_names()
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    with (
        serve(create_app(world, HubConfig())) as hub_url,
        _database(server_url, "prmon_e2e_warehouse", migrated=True) as warehouse_url,
        _database(server_url, "prmon_e2e_dagster", migrated=False) as storage_url,
    ):
        with connect(warehouse_url, autocommit=True) as conn:
            for name in names:
                add_repository(conn, name)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": sqlalchemy_url(storage_url),
            "PRMON_DATABASE_URL": warehouse_url,
            "PRMON_GITHUB_API_URL": hub_url,
            "PRMON_HOME": str(tmp / "prmon_home"),
            "GITHUB_TOKEN": "e2e-token",
        }
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        web_log, daemon_log = tmp / "webserver.log", tmp / "daemon.log"
        webserver = _start(
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "workspace.yaml",
            ],
            env,
            web_log,
        )
        daemon: subprocess.Popen[bytes] | None = None
        try:
            _wait_ready(url, webserver, web_log)
            running = Stack(url, world, warehouse_url, names, home, env)
            running.graphql("mutation { setNuxSeen }")  # no "join the community" dialog on top
            for name in names:  # what the registry sensor would do; done first so it has no work
                added = running.graphql(ADD_PARTITION, repo=REPOSITORY, key=name)
                assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"
            daemon = _start(
                [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log
            )
            yield running
        finally:
            for process in (daemon, webserver):
                if process is not None:
                    _stop(process)


class _database:
    """A throwaway database as a context manager (migrated for the warehouse)."""

    def __init__(self, server_url: str, prefix: str, *, migrated: bool) -> None:
        self._databases = throwaway_database(server_url, prefix)
        self._migrated = migrated

    def __enter__(self) -> str:
        url = next(self._databases)
        if self._migrated:
            with connect(url, autocommit=True) as conn:
                migrate(conn)
        return url

    def __exit__(self, *exc: object) -> None:
        for _ in self._databases:
            pass
