"""A name that now means another GitHub repository: the old rows are retired, the new
repository is synced cold under the same name, in one run (issue 14, bug 2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import get_repository
from prmon_pipeline_tests.databases import migrated_throwaway_database
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches
from prmon_pipeline_tests.sync_harness import client_for, register, sync_one


@pytest.fixture
def warehouse(server_url: str) -> Iterator[str]:
    yield from migrated_throwaway_database(server_url, "prmon_test_identity")


def _world(seed: int) -> World:
    return World(
        WorldConfig(seed=seed, repositories=1, prs_per_repository=30, check_runs_per_sha=3)
    )


def test_a_new_world_under_an_old_name_retires_the_old_rows_and_starts_cold(
    warehouse: str,
) -> None:
    first, second = _world(11), _world(12)
    name = first.repository_names()[0]
    assert second.repository_names() == [name]
    assert first.repository(name)["id"] != second.repository(name)["id"]
    register(warehouse, first)
    sync_one(warehouse, first, client_for(create_app(first, HubConfig())), name)
    with connect(warehouse, autocommit=True) as conn:
        old = get_repository(conn, name)
    assert old.github_id == first.repository(name)["id"]  # learnt by the first sync

    result = sync_one(warehouse, second, client_for(create_app(second, HubConfig())), name)

    assert result.figures.replaced and "replaced" not in (result.figures.renamed_to or "")
    assert result.figures.counts.prs_new == len(second.pull_requests(name))
    assert_warehouse_matches(warehouse, second, name)
    with connect(warehouse, autocommit=True) as conn:
        new = get_repository(conn, name)
        assert new.id != old.id and new.github_id == second.repository(name)["id"]
        retired = conn.execute(
            "SELECT active, retired_at IS NOT NULL, retired_reason FROM prmon.repositories"
            " WHERE id = %s",
            (old.id,),
        ).fetchone()
        assert retired is not None and retired[:2] == (False, True) and retired[2]
        kept = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE deleted_at IS NOT NULL"
            " AND deleted_reason LIKE 'repository replaced%%')"
            " FROM prmon.pull_requests WHERE repository_id = %s",
            (old.id,),
        ).fetchone()
        assert kept is not None and kept[0] == kept[1] == len(first.pull_requests(name))
        etags = conn.execute(
            "SELECT count(*) FROM prmon.check_run_etags WHERE repository_id = %s", (old.id,)
        ).fetchone()
        assert etags == (0,)
        # A replacement is not a failure: no failed sync_runs row, no failure count, on either
        # row (the first, refused discovery used to be recorded as a failure of the old row).
        failures = conn.execute(
            "SELECT count(*) FILTER (WHERE s.status = 'failed'), max(r.failure_count)"
            " FROM prmon.repositories r LEFT JOIN prmon.sync_runs s ON s.repository_id = r.id"
            " WHERE r.id IN (%s, %s)",
            (old.id, new.id),
        ).fetchone()
        assert failures == (0, 0)


def test_the_same_world_again_is_not_a_replacement(warehouse: str) -> None:
    world = _world(11)
    name = world.repository_names()[0]
    register(warehouse, world)
    client = client_for(create_app(world, HubConfig()))
    sync_one(warehouse, world, client, name)
    world.advance(3600)
    again = sync_one(warehouse, world, client, name)
    assert again.figures.replaced is None
    assert_warehouse_matches(warehouse, world, name)
