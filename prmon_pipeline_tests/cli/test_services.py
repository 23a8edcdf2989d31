"""``prmon fakehub serve`` and ``prmon dev`` as processes: they start, answer, and stop cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline_tests.databases import throwaway_database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sigint_ignored() -> None:
    """What a shell does to a background job: the child starts with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.servers
@pytest.mark.parametrize("started_as", ["foreground", "background job"])
def test_fakehub_serve_answers_like_github(started_as: str) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prmon_pipeline.cli",
            "fakehub",
            "serve",
            "--repos",
            "2",
            "--prs",
            "5",
            "--port",
            str(port),
            "--tick",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_ignored if started_as == "background job" else None,  # noqa: PLW1509
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"fakehub serving 2 repositories at http://127.0.0.1:{port}" in line
        # Then what it serves, in lines a user can copy: names, PR counts, the commands.
        served = [process.stdout.readline().rstrip("\n") for _ in range(6)]
        assert served[0].split() == ["acme/Widgets-0", "5", "pull", "requests"]
        assert served[1].split() == ["acme/api-gateway-1", "5", "pull", "requests"]
        assert served[3].strip() == f"export PRMON_GITHUB_API_URL=http://127.0.0.1:{port}"
        assert served[4].strip() == "prmon repos add acme/Widgets-0 acme/api-gateway-1"
        assert served[5].strip() == "prmon sync --all"
        response = httpx.get(f"http://127.0.0.1:{port}/rate_limit", timeout=10)
        assert response.status_code == 200 and "x-ratelimit-limit" in response.headers
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.e2e
def test_dev_starts_dagster_with_automation_and_stops_on_ctrl_c(
    server_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    for url in throwaway_database(server_url, "prmon_test_dev"):
        env = {**os.environ, "PRMON_DATABASE_URL": url, "PRMON_HOME": str(tmp_path / "home")}
        env.pop("GITHUB_TOKEN", None)
        log = tmp_path / "dev.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prmon_pipeline.cli",
                    "dev",
                    "--port",
                    str(port),
                    "--repos",
                    "2",
                    "--prs",
                    "20",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 180
                while "Dagster UI at" not in log.read_text():
                    assert process.poll() is None, log.read_text()[-3000:]
                    assert time.monotonic() < deadline, "dagster dev did not come up"
                    time.sleep(1)
                query = (
                    '{ sensorsOrError(repositorySelector: {repositoryLocationName: "prmon",'
                    ' repositoryName: "__repository__"}) { ... on Sensors'
                    " { results { name sensorState { status } } } } }"
                )
                sensors = httpx.post(
                    f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=30
                ).json()["data"]["sensorsOrError"]["results"]
                status = {s["name"]: s["sensorState"]["status"] for s in sensors}
                assert status["repository_change_sensor"] == "RUNNING"
                assert status["repository_registry_sensor"] == "RUNNING"
                assert status["webhook_deliveries_sensor"] == "RUNNING"
                # A run worker loads the definitions too: wait for one, then read everything
                # dagster dev, its code server and that run printed.
                while "RUN_START" not in log.read_text():
                    assert process.poll() is None, log.read_text()[-3000:]
                    assert time.monotonic() < deadline + 120, "no run started"
                    time.sleep(1)
                # fakehub's webhooks reach the receiver and an events run applies them
                while not _applied_deliveries(url):
                    assert process.poll() is None, log.read_text()[-3000:]
                    assert time.monotonic() < deadline + 240, "no webhook delivery applied"
                    time.sleep(1)
                printed = log.read_text()
                for notice in ("BetaWarning", "PreviewWarning", "SupersessionWarning"):
                    assert notice not in printed, printed[-3000:]
            finally:
                process.send_signal(signal.SIGINT)
                code = process.wait(timeout=120)
        assert code == 0, log.read_text()[-3000:]
        assert "fakehub serving 2 simulated repositories" in log.read_text()
        assert "webhook receiver at http://127.0.0.1:" in log.read_text()


def _applied_deliveries(database_url: str) -> int:
    with connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM prmon.webhook_deliveries WHERE status = 'applied'"
        ).fetchone()
    assert row is not None
    return int(str(row[0]))
