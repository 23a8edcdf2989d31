"""``prmon repos add|refresh|list|remove 'OWNER/*'`` end to end: fakehub on a loopback port, the
CLI in-process, a throwaway warehouse."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from prmon_pipeline.cli import main
from prmon_pipeline.fakehub import FaultSpec, HubConfig, World, create_app, serve

pytestmark = pytest.mark.usefixtures("cli_env")


@pytest.fixture
def app(world: World) -> Starlette:
    return create_app(world, HubConfig())


@pytest.fixture
def github_url(app: Starlette) -> Iterator[str]:
    """The CLI fixtures' simulated GitHub, with its app at hand for faults."""
    with serve(app) as url:
        yield url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, dict[str, object]]:
    code, out, _ = run(capsys, "repos", "list", "--json", *flags)
    assert code == 0
    return {r["full_name"]: r for r in json.loads(out)}


def test_a_pattern_follows_the_organisation(
    capsys: pytest.CaptureFixture[str], world: World
) -> None:
    first, second = world.repository_names()
    code, out, _ = run(capsys, "repos", "add", "acme/*")
    assert code == 0
    assert "registered pattern acme/*: 2 listed, 2 added, 0 deactivated" in out
    assert f"  added {first}" in out and f"  added {second}" in out
    rows = listed(capsys)
    assert {n: (r["added_by_pattern"], r["added_by_name"]) for n, r in rows.items()} == {
        first: ("acme/*", False),
        second: ("acme/*", False),
    }

    world.create_repository("new-service")
    world.create_repository("upstream-mirror", fork=True)
    world.archive_repository(first)
    code, out, _ = run(capsys, "repos", "refresh")
    assert code == 0
    assert "refreshed acme/*: 4 listed, 1 added, 1 deactivated, 0 reactivated" in out
    assert "  added acme/new-service" in out and f"  deactivated {first} (archived)" in out
    assert set(listed(capsys)) == {second, "acme/new-service"}

    code, out, _ = run(capsys, "repos", "refresh", "--json")
    (change,) = json.loads(out)
    assert code == 0 and change["listed"] == 4
    assert not (change["added"] or change["deactivated"] or change["reactivated"])

    world.archive_repository(first, archived=False)
    world.delete_repository("acme/new-service")
    code, out, _ = run(capsys, "repos", "refresh", "ACME/*")
    assert code == 0 and f"  reactivated {first}" in out
    assert "  deactivated acme/new-service (gone from the owner's listing)" in out

    assert run(capsys, "repos", "add", second)[0] == 0  # now by name too
    code, out, _ = run(capsys, "repos", "list")
    assert "acme/*" in out and "name, acme/*" in out and "patterns" in out
    code, out, _ = run(capsys, "repos", "remove", "acme/*")
    assert code == 0 and "removed pattern acme/*; deactivated 1 repositories it added" in out
    assert set(listed(capsys)) == {second}
    code, out, _ = run(capsys, "repos", "list", "--patterns", "--json")
    assert json.loads(out) == []


def test_forks_and_archived_ones_on_request(
    capsys: pytest.CaptureFixture[str], world: World
) -> None:
    world.create_repository("upstream-mirror", fork=True)
    world.archive_repository(world.repository_names()[0])
    code, out, _ = run(capsys, "repos", "add", "acme/*", "--forks", "--archived", "--json")
    assert code == 0
    (change,) = json.loads(out)["patterns"]
    assert change["added"] == sorted(world.repository_names())
    code, out, _ = run(capsys, "repos", "list", "--patterns", "--json")
    (pattern,) = json.loads(out)
    assert pattern["pattern"] == "acme/*" and pattern["owner_type"] == "Organization"
    assert pattern["include_forks"] and pattern["include_archived"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["repos", "add", "acme/w*"], "a repository pattern must be 'owner/*'"),
        (["repos", "add", "bad_owner/*"], "invalid GitHub owner 'bad_owner'"),
        (["repos", "add", "acme/widgets", "--forks"], "apply to 'OWNER/*' patterns only"),
        (["repos", "add", "nobody-here/*"], "nobody-here: no GitHub organisation or user"),
        (["repos", "refresh", "acme/*"], "pattern acme/* is not registered"),
        (["repos", "remove", "acme/*", "--purge"], "--purge deletes repositories by name"),
    ],
)
def test_bad_patterns_fail_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1
    assert listed(capsys) == {}


def test_a_failed_listing_changes_nothing_and_is_reported(
    capsys: pytest.CaptureFixture[str], world: World, app: Starlette
) -> None:
    assert run(capsys, "repos", "add", "acme/*")[0] == 0
    world.create_repository("new-service")
    app.state.hub.faults.add(FaultSpec(route="*", kind="404", count=2))  # the org, then the user
    code, out, _ = run(capsys, "repos", "refresh")
    assert code == 1
    assert "acme/*: FAILED: acme: no GitHub organisation or user of this name" in out
    assert set(listed(capsys)) == set(world.repository_names()) - {"acme/new-service"}
    code, out, _ = run(capsys, "repos", "list", "--patterns", "--json")
    (pattern,) = json.loads(out)
    assert pattern["last_error"].startswith("acme: no GitHub organisation or user")

    code, out, _ = run(capsys, "repos", "refresh")
    assert code == 0 and "  added acme/new-service" in out
    _, out, _ = run(capsys, "repos", "list", "--patterns", "--json")
    assert json.loads(out)[0]["last_error"] is None
