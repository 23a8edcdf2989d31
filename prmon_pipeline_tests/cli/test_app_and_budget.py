"""``prmon sync`` with GitHub App credentials (nothing secret in its output or logs) and with
``--max-budget-share`` (stops early, defers without losing anything, the next sync completes and
the warehouse equals the world); ``prmon status`` shows both pools."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette

from prmon_pipeline.cli import main
from prmon_pipeline.fakehub import HubConfig, World, create_app, serve
from prmon_pipeline.fakehub.apps import AppSpec, Installation
from prmon_pipeline_tests.github.app_keys import key_pair
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches

pytestmark = pytest.mark.usefixtures("cli_env")
APP_ID = 31337
TOKEN = "ghp_budgetedTOKEN0123456789"
EVERY_CHECK_RUN = ("--check-runs-lookback", "0")
"""Every PR's check runs fetched, so the warehouse must equal the world exactly."""


@pytest.fixture
def hub_config() -> HubConfig:
    """The App's hub by default; budget tests ask for a small plain-token limit instead."""
    spec = AppSpec(key_pair().public_pem, (Installation(5, "acme"),))
    return HubConfig(apps={APP_ID: spec}, require_auth=True)


@pytest.fixture
def hub_app(world: World, hub_config: HubConfig) -> Starlette:
    return create_app(world, hub_config)


@pytest.fixture
def github_url(hub_app: Starlette) -> Iterator[str]:
    with serve(hub_app) as url:
        yield url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sync_with_a_github_app_shows_no_secret(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    world: World,
    hub_app: Starlette,
    warehouse_url: str,
) -> None:
    pem = key_pair().private_pem
    monkeypatch.setenv("PRMON_GITHUB_APP_ID", str(APP_ID))
    monkeypatch.setenv("PRMON_GITHUB_APP_PRIVATE_KEY", pem)
    caplog.set_level(logging.DEBUG)
    names = world.repository_names()
    run(capsys, "repos", "add", *names)
    code, out, err = run(capsys, "sync", "--all", *EVERY_CHECK_RUN, "--json")
    assert code == 0, err
    assert {row["status"] for row in json.loads(out)} == {"succeeded"}
    code, table, table_err = run(capsys, "sync", "--all")
    assert code == 0, table_err
    code, status, _ = run(capsys, "status", "--json")
    rows = json.loads(status)["repositories"]
    assert all(r["rate_limit_remaining"] is not None and "graphql_remaining" in r for r in rows)
    assert {r["failure_count"] for r in rows} == {0}
    tokens = list(hub_app.state.hub.apps.tokens)
    assert len(tokens) == 2  # one per owner and run
    shown = "\n".join([out, err, table, table_err, status, caplog.text])
    for secret in [*tokens, *pem.splitlines()[1:-1], "eyJ"]:
        assert secret not in shown
    for name in names:
        assert_warehouse_matches(warehouse_url, world, name)


def test_a_bad_app_key_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    monkeypatch.setenv("PRMON_GITHUB_APP_ID", str(APP_ID))
    monkeypatch.setenv("PRMON_GITHUB_APP_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----\nAAAA")
    run(capsys, "repos", "add", world.repository_names()[0])
    code, out, err = run(capsys, "sync", "--all")
    assert code != 0
    assert "PRMON_GITHUB_APP_PRIVATE_KEY is not an unencrypted PEM RSA private key" in err
    assert len(err.strip().splitlines()) == 1 and "AAAA" not in out + err


@pytest.mark.parametrize("hub_config", [HubConfig(rate_limit=120)])
def test_budget_share_defers_and_the_next_sync_completes(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    world: World,
    hub_app: Starlette,
    warehouse_url: str,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    names = sorted(world.repository_names())
    run(capsys, "repos", "add", *names)
    # The REST pool's share: check runs by REST too, so the REST pool is what runs out.
    share = ("--max-budget-share", "0.5", "--concurrency", "1", "--api", "rest", *EVERY_CHECK_RUN)
    code, out, err = run(capsys, "sync", "--all", *share, "--json")
    assert code == 0, err
    statuses = {row["repository"]: row for row in json.loads(out)}
    assert [statuses[n]["status"] for n in names] == ["succeeded", "deferred"]
    deferred = names[1]
    assert "budget share reached" in statuses[deferred]["error"]
    assert "1 of 2 repositories deferred" in err and deferred in err
    hub = hub_app.state.hub
    assert hub.rate_limit_remaining(TOKEN) >= 59  # the share, in-flight requests counted
    status = _status(capsys)
    assert status[deferred]["failure_count"] == 0
    assert status[deferred]["pull_requests"] == 0  # nothing half-stored
    assert status[deferred]["rate_limit_remaining"] < 60

    hub.reset_rate_limit()  # the next hour
    code, out, err = run(capsys, "sync", "--all", *share, "--json")
    assert code == 0, err
    assert {row["status"] for row in json.loads(out)} == {"succeeded"}
    for name in names:
        assert_warehouse_matches(warehouse_url, world, name)


def _status(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    _, out, _ = run(capsys, "status", "--json")
    return {r["full_name"]: r for r in json.loads(out)["repositories"]}


def test_an_owner_pattern_with_a_github_app_registers_the_installation_selection(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    names = sorted(world.repository_names())
    selection = (Installation(5, "acme", tuple(names[:-1])),)
    config = HubConfig(apps={APP_ID: AppSpec(key_pair().public_pem, selection)}, require_auth=True)
    monkeypatch.setenv("PRMON_GITHUB_APP_ID", str(APP_ID))
    monkeypatch.setenv("PRMON_GITHUB_APP_PRIVATE_KEY", key_pair().private_pem)
    with serve(create_app(world, config)) as url:
        monkeypatch.setenv("PRMON_GITHUB_API_URL", url)
        code, _, err = run(capsys, "repos", "add", "acme/*", "--json")
        assert code == 0, err
        code, out, err = run(capsys, "repos", "list", "--json")
        assert code == 0, err
        listed = sorted(row["full_name"] for row in json.loads(out) if row["active"])
        assert listed == names[:-1]  # what the installation may read, not the organisation
        code, _, err = run(capsys, "repos", "refresh", "--json")
        assert code == 0, err
        code, out, _ = run(capsys, "repos", "list", "--patterns", "--json")
    (pattern,) = json.loads(out)
    assert pattern["owner_type"] == "Organization" and pattern["last_error"] is None
