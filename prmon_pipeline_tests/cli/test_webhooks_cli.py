"""``prmon webhooks serve`` and ``prmon webhooks recover`` as a user runs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import psycopg
import pytest
import uvicorn

from prmon_pipeline.cli import main
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline_tests.github.deliveries_standin import DeliveriesStandIn

SECRET = "cli-test-secret-value"
REPO_HOOK = "repos/acme/widgets/hooks/12"


def test_serve_refuses_to_start_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PRMON_WEBHOOK_SECRET", raising=False)
    assert main(["webhooks", "serve"]) == 2
    error = capsys.readouterr().err
    assert "PRMON_WEBHOOK_SECRET is not set" in error
    assert "--insecure-no-secret" in error


def _sigint_ignored() -> None:
    """What a shell does to a background job: the child starts with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.servers
@pytest.mark.parametrize("started_as", ["foreground", "background job"])
def test_serve_stores_signed_deliveries_and_stops_on_ctrl_c(
    warehouse_url: str, started_as: str
) -> None:
    env = {**os.environ, "PRMON_DATABASE_URL": warehouse_url, "PRMON_WEBHOOK_SECRET": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "prmon_pipeline.cli", "webhooks", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_sigint_ignored if started_as == "background job" else None,  # noqa: PLW1509
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("receiving GitHub webhooks at http://127.0.0.1:"), banner
        url = banner.split()[4].rstrip(";")
        body = orjson.dumps({"action": "opened", "repository": {"id": 1, "full_name": "a/b"}})
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "cli-1",
            "X-GitHub-Hook-ID": "1",
            "Content-Type": "application/json",
        }
        forged = httpx.post(url, content=body, headers=headers, timeout=10)
        assert forged.status_code == 401
        signed = {**headers, "X-Hub-Signature-256": signature}
        assert httpx.post(url, content=body, headers=signed, timeout=10).status_code == 202
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        output, errors = process.communicate()
    assert "webhook receiver stopped" in output
    assert SECRET not in output + errors
    with connect(warehouse_url, autocommit=True) as conn:
        rows = conn.execute("SELECT guid, status FROM prmon.webhook_deliveries").fetchall()
    assert rows == [("cli-1", "pending")]


@pytest.fixture
def standin_url() -> Iterator[tuple[DeliveriesStandIn, str]]:
    """The deliveries STAND-IN (not fakehub) served over real HTTP on a loopback port."""
    standin = DeliveriesStandIn()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(standin.asgi(), log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield standin, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_recover_redelivers_once_per_failed_guid_and_moves_the_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    warehouse_url: str,
    standin_url: tuple[DeliveriesStandIn, str],
) -> None:
    standin, url = standin_url
    monkeypatch.setenv("PRMON_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("PRMON_GITHUB_API_URL", url)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
    for variable in ("PRMON_GITHUB_APP_ID", "PRMON_GITHUB_APP_PRIVATE_KEY"):
        monkeypatch.delenv(variable, raising=False)
    standin.attempt(REPO_HOOK, "ok-1", 30)
    standin.attempt(REPO_HOOK, "lost-1", 20, "failed to connect", 0)
    standin.attempt(REPO_HOOK, "lost-1", 10, "Invalid HTTP Response: 503", 503)
    standin.attempt(REPO_HOOK, "lost-2", 8, "timed out", 0)
    standin.attempt(REPO_HOOK, "old", 60 * 25, "failed to connect", 0)  # before now - 24 h
    args = ["webhooks", "recover", "--repo", "acme/widgets", "--hook-id", "12", "--json"]

    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["found"], first["already_ok"]) == (3, 1)
    assert sorted(first["redelivered"]) == ["lost-1", "lost-2"]
    assert first["checkpoint_moved"] is True
    posts = [r for r in standin.requests if r.startswith("POST")]
    assert len(posts) == 2

    assert main(args) == 0  # since the checkpoint (less 5 min): only the two OK redeliveries
    second = json.loads(capsys.readouterr().out)
    assert (second["found"], second["already_ok"], second["redelivered"]) == (2, 2, [])
    assert len([r for r in standin.requests if r.startswith("POST")]) == 2


def test_recover_keeps_the_checkpoint_when_a_redelivery_fails(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    warehouse_url: str,
    standin_url: tuple[DeliveriesStandIn, str],
) -> None:
    standin, url = standin_url
    monkeypatch.setenv("PRMON_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("PRMON_GITHUB_API_URL", url)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
    refused = standin.attempt(REPO_HOOK, "stuck", 5, "failed to connect", 0)
    standin.refuse.add(refused["id"])
    args = ["webhooks", "recover", "--repo", "acme/widgets", "--hook-id", "12"]

    assert main(args) == 1
    out = capsys.readouterr().out
    assert "not redelivered stuck: " in out and "422" in out
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FROM prmon.webhook_recoveries").fetchone() == (0,)
    assert main([*args, "--dry-run"]) == 0  # lists, redelivers nothing


def test_recover_needs_a_hook(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PRMON_GITHUB_APP_ID", raising=False)
    assert main(["webhooks", "recover"]) == 2
    assert "name a webhook" in capsys.readouterr().err
    assert main(["webhooks", "recover", "--repo", "acme/widgets"]) == 2
    assert "--hook-id" in capsys.readouterr().err
    assert main(["webhooks", "recover", "--repo", "acme/../x", "--hook-id", "1"]) == 2
