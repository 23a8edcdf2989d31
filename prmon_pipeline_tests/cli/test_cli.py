"""Every ``prmon`` verb in-process: output, ``--json``, and each expected failure's exit code."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from prmon_pipeline.cli import main
from prmon_pipeline.cli import sync as cli_sync
from prmon_pipeline.fakehub import World
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.migrations import load_migrations
from prmon_pipeline.warehouse.repositories import get_repository, replace_repository

pytestmark = pytest.mark.usefixtures("cli_env")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_db_migrate_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "db", "migrate")
    names = [f"{m.version:03d}_{m.name}" for m in load_migrations()]
    assert names[0] == "001_warehouse"
    assert code == 0 and f"applied {len(names)} migration(s): {', '.join(names)}" in out
    code, out, _ = run(capsys, "db", "migrate", "--json")
    assert code == 0 and json.loads(out) == {"applied": []}


def test_repos_add_list_remove(capsys: pytest.CaptureFixture[str], world: World) -> None:
    first, second = world.repository_names()
    code, out, _ = run(capsys, "repos", "add", first, second)
    assert code == 0 and f"registered {first}" in out
    code, out, _ = run(capsys, "repos", "list", "--json")
    assert [r["full_name"] for r in json.loads(out)] == sorted([first, second])
    code, out, _ = run(capsys, "repos", "remove", second.upper())
    assert code == 0 and f"removed {second}" in out
    code, out, _ = run(capsys, "repos", "list", "--json")
    assert [r["full_name"] for r in json.loads(out)] == [first]
    code, out, _ = run(capsys, "repos", "list", "--all", "--json")
    assert {r["full_name"]: r["active"] for r in json.loads(out)} == {first: True, second: False}


def test_a_replaced_repository_shows_in_status_and_repos_list_all(
    capsys: pytest.CaptureFixture[str], world: World, warehouse_url: str
) -> None:
    first, _ = world.repository_names()
    assert run(capsys, "repos", "add", first)[0] == 0
    with connect(warehouse_url, autocommit=True) as conn:
        old = get_repository(conn, first)
        replace_repository(
            conn,
            old,
            new_github_id=424242,
            reason="the name now belongs to GitHub repository 424242",
            now=datetime(2026, 3, 4, tzinfo=UTC),
        )
    _, out, _ = run(capsys, "status", "--json")
    (status,) = json.loads(out)["repositories"]
    assert status["notes"] == [
        "replaced 2026-03-04: the name now belongs to GitHub repository 424242"
    ]
    _, out, _ = run(capsys, "status")
    assert "replaced 2026-03-04" in out
    _, out, _ = run(capsys, "repos", "list", "--json")
    assert [(r["full_name"], r["retired_at"]) for r in json.loads(out)] == [(first, None)]
    _, out, _ = run(capsys, "repos", "list", "--all", "--json")
    listed = [(r["active"], r["github_id"], r["retired_reason"]) for r in json.loads(out)]
    assert listed == [
        (True, 424242, None),
        (False, None, "the name now belongs to GitHub repository 424242"),
    ]
    _, out, _ = run(capsys, "repos", "list", "--all")
    assert "retired 2026-03-04" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("repos", "add", "not-a-repo"), "repository must be 'owner/name', got 'not-a-repo'"),
        (("repos", "add", "a_b/x"), "invalid GitHub owner 'a_b'"),
        (
            (
                "repos",
                "add",
                "ok/..",
            ),
            "invalid GitHub repository name '..'",
        ),
        (("repos", "remove", "acme/nope"), "repository acme/nope is not registered"),
        (("sync", "acme/nope"), "repository acme/nope is not registered"),
        (("sync",), "name repositories (OWNER/NAME ...) or pass --all, not both"),
        (("sync", "--all"), "no active repositories registered"),
        (("sync", "--pr", "3", "--full", "a/b"), "--pr and --full cannot be combined"),
        (("sync", "--pr", "3", "a/b", "c/d"), "--pr needs exactly one repository"),
    ],
)
def test_expected_failures_are_one_line_with_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("prmon: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unreachable_database_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRMON_DATABASE_URL", "postgresql://prmon:secret@127.0.0.1:1/prmon")
    code, _, err = run(capsys, "repos", "list")
    assert code == 2
    assert err.startswith("prmon: error: cannot reach PostgreSQL at postgresql://prmon:***@")
    assert "secret" not in err and len(err.strip().splitlines()) == 1


def test_sync_then_status(capsys: pytest.CaptureFixture[str], world: World) -> None:
    repositories = world.repository_names()
    run(capsys, "repos", "add", *repositories)
    code, out, err = run(capsys, "sync", "--all", "--json")
    assert code == 0, err
    figures = {row["repository"]: row for row in json.loads(out)}
    for name in repositories:
        assert figures[name]["status"] == "succeeded"
        assert figures[name]["prs_new"] == len(world.pull_requests(name))
    code, out, _ = run(capsys, "sync", repositories[0])
    assert code == 0 and "sync summary" in out and repositories[0] in out
    code, out, _ = run(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["healthy"] is True
    counts = {r["full_name"]: r["pull_requests"] for r in status["repositories"]}
    assert counts == {name: len(world.pull_requests(name)) for name in repositories}
    code, out, _ = run(capsys, "status")
    assert code == 0 and "overall: healthy" in out


def test_dry_run_writes_only_an_audit_row(capsys: pytest.CaptureFixture[str], world: World) -> None:
    name = world.repository_names()[0]
    run(capsys, "repos", "add", name)
    code, out, _ = run(capsys, "sync", name, "--dry-run", "--json")
    assert code == 0
    assert json.loads(out)[0]["prs_new"] == len(world.pull_requests(name))
    code, out, _ = run(capsys, "status", "--json")
    (repository,) = json.loads(out)["repositories"]
    assert repository["pull_requests"] == 0
    assert code == 1 and "never synced" in repository["problems"]


def test_sync_applies_the_allocator_settings_first(
    capsys: pytest.CaptureFixture[str], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[bool] = []
    monkeypatch.setattr(cli_sync, "apply_sync_allocator_settings", lambda: applied.append(True))
    name = world.repository_names()[0]
    run(capsys, "repos", "add", name)
    code, _, _ = run(capsys, "sync", name, "--dry-run", "--json")
    assert code == 0 and applied == [True]


def test_single_pr_sync(capsys: pytest.CaptureFixture[str], world: World) -> None:
    name = world.repository_names()[0]
    number = world.pull_requests(name)[0]["number"]
    run(capsys, "repos", "add", name)
    code, out, _ = run(capsys, "sync", name, "--pr", str(number), "--json")
    assert code == 0
    assert json.loads(out)[0]["prs_new"] == 1


def test_a_failing_repository_is_recorded_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    name = world.repository_names()[0]
    run(capsys, "repos", "add", name, "acme/does-not-exist")
    code, out, err = run(capsys, "sync", "--all", "--json")
    assert code == 1
    outcomes = {row["repository"]: row for row in json.loads(out)}
    assert outcomes[name]["status"] == "succeeded"
    assert outcomes["acme/does-not-exist"]["status"] == "failed"
    assert "acme/does-not-exist: discovery failed" in err
    code, out, _ = run(capsys, "status", "--json")
    problems = {r["full_name"]: r["problems"] for r in json.loads(out)["repositories"]}
    assert code == 1
    assert problems[name] == []
    assert any("1 failure(s)" in p for p in problems["acme/does-not-exist"])


def test_status_with_nothing_registered_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status")
    assert code == 1 and "no repositories registered" in out


def test_sync_api_modes_spend_from_their_pools(
    capsys: pytest.CaptureFixture[str], world: World
) -> None:
    """``--api rest`` reads check runs by REST alone; the default (``auto``, GraphQL against
    fakehub) reads them in GraphQL queries, and the JSON figures say what each pool spent."""
    repositories = world.repository_names()
    run(capsys, "repos", "add", *repositories)
    code, out, err = run(capsys, "sync", repositories[0], "--api", "rest", "--json")
    assert code == 0, err
    (rest,) = json.loads(out)
    assert rest["graphql_points"] == 0 and rest["graphql_queries"] == 0
    assert rest["api_requests"] > 2  # the list, its re-check and one request per SHA
    code, out, err = run(capsys, "sync", repositories[1], "--json")
    assert code == 0, err
    (auto,) = json.loads(out)
    assert auto["graphql_points"] >= 1 and auto["graphql_queries"] >= 1
    assert auto["api_requests"] == 2  # the PR list and its free re-check
    with pytest.raises(SystemExit) as refused:
        run(capsys, "sync", repositories[0], "--api", "soap")
    assert refused.value.code == 2
