"""NUL characters in GitHub text, through a real sync into PostgreSQL.

PostgreSQL ``text`` cannot hold U+0000. The parser removes NUL characters from every text column
(``core/github_json.py``), so the rest of a title or body is stored intact, and an empty body
that results is stored as NULL like any empty body. A re-sync of the same text is no change.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app
from prmon_pipeline.fakehub.model import PullRequest
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches
from prmon_pipeline_tests.sync_harness import client_for, register, sync_one


@pytest.fixture
def warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_text")


def _edit(world: World, name: str, number: int, title: str, body: str | None) -> None:
    """Change a PR's text in the model as an edit on GitHub would (the served JSON follows)."""
    repo = world.find_repository(name)
    assert repo is not None
    pr: PullRequest = repo.pulls[number]
    pr.title, pr.body = title, body
    pr.rev += 1
    world.bump(repo)


def _stored_text(url: str, name: str, number: int) -> tuple[str, str | None]:
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT p.title, p.body FROM prmon.pull_requests p"
            " JOIN prmon.repositories r ON r.id = p.repository_id"
            " WHERE r.full_name = %s AND p.number = %s",
            (name, number),
        ).fetchone()
    assert row is not None
    return str(row[0]), None if row[1] is None else str(row[1])


def test_nul_in_title_and_body_is_removed_and_the_rest_stored(warehouse: str) -> None:
    world = World(WorldConfig(seed=21, repositories=1, prs_per_repository=12, check_runs_per_sha=2))
    name = world.repository_names()[0]
    _edit(world, name, 1, "fix\x00 the\x00 build \u2603", "line 1\x00\nline 2 \u00e9\x00")
    _edit(world, name, 2, "\x00leading and trailing\x00", "\x00")
    served = world.pull_requests(name)
    assert any("\x00" in (p["body"] or "") for p in served)  # the wire really carries \u0000
    register(warehouse, world)
    client = client_for(create_app(world, HubConfig()))
    sync_one(warehouse, world, client, name)
    assert _stored_text(warehouse, name, 1) == ("fix the build \u2603", "line 1\nline 2 \u00e9")
    assert _stored_text(warehouse, name, 2) == ("leading and trailing", None)
    assert_warehouse_matches(warehouse, world, name)
    again = sync_one(warehouse, world, client, name)
    assert (again.figures.counts.prs_new, again.figures.counts.prs_updated) == (0, 0)
