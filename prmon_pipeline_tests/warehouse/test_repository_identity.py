"""Repository identity on a real PostgreSQL: a name that comes to mean another GitHub repository.

The old row is retired (its PRs soft-deleted with the reason, its cursors and ETags dropped) and
the name's new repository gets a live row of its own; lookups by name see the live row only.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import psycopg
import pytest

from prmon_pipeline.core.errors import ConfigurationError, WarehouseError
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.warehouse.audit import SyncAudit
from prmon_pipeline.warehouse.cursors import read_cursors
from prmon_pipeline.warehouse.integrity import stored_counts
from prmon_pipeline.warehouse.load import load_changeset
from prmon_pipeline.warehouse.repositories import (
    Repository,
    add_repository,
    get_repository,
    list_repositories,
    remove_repository,
    rename_repository,
    replace_repository,
    set_github_id,
)
from prmon_pipeline.warehouse.snapshot import read_snapshot
from prmon_pipeline.warehouse.status import read_status
from prmon_pipeline_tests.rows import T0, check_run, check_runs, pull_request, pull_requests

Conn = psycopg.Connection[tuple[object, ...]]
REPLACED_AT = T0 + timedelta(days=2)
REASON = "acme/x now resolves to another GitHub repository"
_GITHUB_IDS = itertools.count(uuid.uuid4().int % 10**12)  # the session's tests share one database


def _github_id() -> int:
    return next(_GITHUB_IDS)


def _name() -> str:
    return f"acme/identity-{uuid.uuid4().hex[:8]}"


def _synced(db: Conn, name: str, github_id: int | None = None) -> Repository:
    """A registered repository with two PRs (one merged), check runs, cursors and ETags."""
    repository = add_repository(db, name)
    set_github_id(db, repository.id, _github_id() if github_id is None else github_id)
    load_changeset(
        db,
        repository.id,
        pull_requests=pull_requests(
            pull_request(1), pull_request(2, state="merged", closed_at=T0, merged_at=T0)
        ),
        check_runs=check_runs(check_run(1, 10), check_run(2, 20)),
        deleted_numbers=(),
        cursors=SyncCursors(
            pulls_watermark=T0, pulls_etag='W/"pulls"', check_run_etags={"a" * 40: 'W/"a"'}
        ),
        audit=SyncAudit(mode="incremental", started_at=T0),
        now=T0 + timedelta(days=1),
    )
    return get_repository(db, name)


def _replace(db: Conn, repository: Repository, new_id: int | None = None) -> Repository:
    return replace_repository(
        db,
        repository,
        new_github_id=_github_id() if new_id is None else new_id,
        reason=REASON,
        now=REPLACED_AT,
    )


def test_replacement_retires_the_old_row_and_starts_the_new_one_cold(db: Conn) -> None:
    name = _name()
    old = _synced(db, name)
    new_id = _github_id()

    new = _replace(db, old, new_id)

    assert (new.full_name, new.github_id, new.active, new.retired_at) == (name, new_id, True, None)
    assert new.id != old.id
    assert get_repository(db, name) == new
    assert read_cursors(db, new.id) == SyncCursors()
    assert read_cursors(db, old.id) == SyncCursors()  # cursors and ETags of the old row dropped
    retired = db.execute(
        "SELECT active, retired_at, retired_reason, github_id FROM prmon.repositories"
        " WHERE id = %s",
        (old.id,),
    ).fetchone()
    assert retired == (False, REPLACED_AT, REASON, old.github_id)
    prs, runs = read_snapshot(db, new.id, None)
    assert (prs.num_rows, runs.num_rows) == (0, 0)


def test_the_old_rows_prs_are_soft_deleted_with_the_reason_and_stay_queryable(db: Conn) -> None:
    old = _synced(db, _name())
    db.execute(
        "UPDATE prmon.pull_requests SET deleted_at = %s WHERE repository_id = %s AND number = 2",
        (T0, old.id),
    )  # deleted before, by a full reconciliation: keeps its own time and no reason

    _replace(db, old)

    rows = db.execute(
        "SELECT number, deleted_at, deleted_reason FROM prmon.pull_requests"
        " WHERE repository_id = %s ORDER BY number",
        (old.id,),
    ).fetchall()
    assert rows == [(1, REPLACED_AT, f"repository replaced: {REASON}"), (2, T0, None)]
    history = db.execute(
        "SELECT p.number, h.from_state, h.to_state FROM prmon.pr_state_history h"
        " JOIN prmon.pull_requests p ON p.id = h.pull_request_id"
        " WHERE p.repository_id = %s ORDER BY p.number",
        (old.id,),
    ).fetchall()
    assert history == [(1, None, "open"), (2, None, "merged")]
    runs = db.execute(
        "SELECT count(*) FROM prmon.check_runs WHERE repository_id = %s", (old.id,)
    ).fetchone()
    assert runs == (2,)


def test_backed_off_shas_of_the_old_repository_are_dropped(db: Conn) -> None:
    """The old repository's ``check_run_failures`` (migration 002) go with its cursors."""
    old = _synced(db, _name())
    db.execute(
        "INSERT INTO prmon.check_run_failures (repository_id, head_sha, http_status, error,"
        " attempts, first_failed_at, last_failed_at, retry_after)"
        " VALUES (%s, 'dead', 422, 'No commit found for SHA: dead', 1, now(), now(), now())",
        (old.id,),
    )
    new = _replace(db, old)
    left = db.execute(
        "SELECT count(*) FROM prmon.check_run_failures WHERE repository_id = %s", (old.id,)
    ).fetchone()
    assert left == (0,)
    assert new.active


def test_registry_by_name_sees_only_the_live_row(db: Conn) -> None:
    name = _name()
    old = _synced(db, name)
    new = _replace(db, old)

    assert add_repository(db, name.upper()).id == new.id  # re-adding reaches the live row
    live_names = [r.id for r in list_repositories(db, include_inactive=True) if r.full_name == name]
    assert live_names == [new.id]
    listed = [r for r in list_repositories(db, include_retired=True) if r.full_name == name]
    assert [(r.id, r.retired) for r in listed] == [(new.id, False), (old.id, True)]

    assert remove_repository(db, name).id == new.id
    assert not get_repository(db, name).active
    assert add_repository(db, name).active
    assert remove_repository(db, name, purge=True).id == new.id
    with pytest.raises(ConfigurationError):
        get_repository(db, name)
    still = db.execute("SELECT retired_reason FROM prmon.repositories WHERE id = %s", (old.id,))
    assert still.fetchone() == (REASON,)  # the purge removed only the live row


def test_a_name_can_be_replaced_twice_and_reused_by_a_new_world_id(db: Conn) -> None:
    name = _name()
    first = _synced(db, name)
    second = _replace(db, first)
    assert first.github_id is not None
    third = _replace(db, second, first.github_id)  # a new world handed out the first id again
    assert get_repository(db, name).id == third.id
    assert third.github_id == first.github_id


def test_an_id_registered_under_another_live_name_is_refused_clearly(db: Conn) -> None:
    """Another repository renamed into the name while still registered under its old one."""
    name, other = _name(), _name()
    old = _synced(db, name)
    moved = _synced(db, other)
    assert moved.github_id is not None
    with pytest.raises(WarehouseError, match=f"already registered as {other}"):
        _replace(db, old, moved.github_id)
    assert get_repository(db, name).id == old.id  # nothing was retired


def test_replacing_a_row_no_longer_live_is_refused(db: Conn) -> None:
    old = _synced(db, _name())
    _replace(db, old)
    with pytest.raises(WarehouseError, match="no longer live"):
        _replace(db, old)


def test_set_github_id_records_the_first_sighting_only(db: Conn) -> None:
    repository = add_repository(db, _name())
    seen = _github_id()
    set_github_id(db, repository.id, seen)
    set_github_id(db, repository.id, seen)  # idempotent
    with pytest.raises(WarehouseError, match="holds another id"):
        set_github_id(db, repository.id, _github_id())
    assert get_repository(db, repository.full_name).github_id == seen


def test_rename_of_the_same_id_keeps_following(db: Conn) -> None:
    old_name, new_name = _name(), _name()
    repository = _synced(db, old_name)
    rename_repository(db, repository.id, new_name)
    renamed = get_repository(db, new_name)
    assert (renamed.id, renamed.github_id) == (repository.id, repository.github_id)
    assert stored_counts(db, new_name)["pull_requests"] == 2
    with pytest.raises(ConfigurationError):
        get_repository(db, old_name)


def test_a_retired_name_can_be_renamed_into_by_a_live_row(db: Conn) -> None:
    """Another repository renamed into a retired row's name: the retired row does not block it."""
    name, other = _name(), _name()
    _replace(db, _synced(db, name))
    remove_repository(db, name, purge=True)
    moving = add_repository(db, other)
    rename_repository(db, moving.id, name)
    assert get_repository(db, name).id == moving.id


def test_status_says_which_repository_replaced_an_earlier_one(db: Conn) -> None:
    name = _name()
    _replace(db, _synced(db, name))
    statuses = [s for s in read_status(db, include_inactive=True) if s.full_name == name]
    assert len(statuses) == 1
    (status,) = statuses
    assert (status.replaced_at, status.replaced_reason) == (REPLACED_AT, REASON)
    assert status.pull_requests == 0
    assert f"replaced {REPLACED_AT:%Y-%m-%d}: {REASON}" in status.notes()
