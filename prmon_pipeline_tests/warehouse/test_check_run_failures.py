"""Refused SHAs (``prmon.check_run_failures``) as cursors: stored, read, replaced, rolled back."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest

from prmon_pipeline.core.discovery_plan import next_check_run_failure
from prmon_pipeline.core.models import CheckRunFailure, SyncCursors
from prmon_pipeline.warehouse.audit import SyncAudit
from prmon_pipeline.warehouse.cursors import read_cursors, write_cursors
from prmon_pipeline.warehouse.load import load_changeset
from prmon_pipeline.warehouse.repositories import add_repository, remove_repository
from prmon_pipeline.warehouse.status import read_status
from prmon_pipeline_tests.rows import T0, pull_request, pull_requests
from prmon_pipeline_tests.warehouse.test_load import NO_PRS, NO_RUNS

Conn = psycopg.Connection[tuple[object, ...]]
A, B, C = "a" * 40, "b" * 40, "c" * 40


def _failure(sha: str, attempts: int = 1, status: int = 422) -> CheckRunFailure:
    failure = next_check_run_failure(None, sha, status, f"No commit found for SHA: {sha}", T0)
    for n in range(1, attempts):
        failure = next_check_run_failure(failure, sha, status, failure.message, T0 + timedelta(n))
    return failure


@pytest.fixture
def repository(db: Conn) -> tuple[int, str]:
    row = add_repository(db, f"acme/gone-{uuid.uuid4().hex[:8]}")
    return row.id, row.full_name


def test_failures_round_trip_and_are_replaced_as_a_set(
    db: Conn, repository: tuple[int, str]
) -> None:
    repository_id, _ = repository
    first = SyncCursors(T0, '"p"', {C: '"3"'}, {A: _failure(A), B: _failure(B, 3, 404)})
    write_cursors(db, repository_id, first, full=False, now=T0)
    assert read_cursors(db, repository_id) == first
    # Without ``previous``: the stored set is replaced by the new one.
    second = SyncCursors(T0, '"p"', {C: '"3"'}, {B: _failure(B, 4, 404), C: _failure(C)})
    write_cursors(db, repository_id, second, full=False, now=T0)
    assert read_cursors(db, repository_id).check_run_failures == second.check_run_failures
    # With ``previous``: only the difference is written, the result is the same.
    third = SyncCursors(T0, '"p"', {}, {B: _failure(B, 5, 404)})
    write_cursors(db, repository_id, third, full=False, now=T0, previous=second)
    stored = read_cursors(db, repository_id)
    assert stored.check_run_failures == third.check_run_failures
    assert stored.check_run_failures[B].attempts == 5
    assert stored.check_run_failures[B].first_failed_at == T0


def test_a_failing_load_does_not_advance_a_back_off(db: Conn, repository: tuple[int, str]) -> None:
    repository_id, _ = repository
    before = SyncCursors(check_run_failures={A: _failure(A)})
    write_cursors(db, repository_id, before, full=False, now=T0)
    bad = pull_requests(pull_request(1, state="merged"))  # merged needs merged_at
    with pytest.raises(psycopg.errors.CheckViolation):
        load_changeset(
            db,
            repository_id,
            pull_requests=bad,
            check_runs=NO_RUNS,
            deleted_numbers=(),
            cursors=SyncCursors(check_run_failures={A: _failure(A, 2)}),
            audit=SyncAudit(mode="incremental", started_at=T0),
            now=T0,
            previous_cursors=before,
        )
    assert read_cursors(db, repository_id) == before


def test_failures_go_with_their_repository(db: Conn, repository: tuple[int, str]) -> None:
    repository_id, name = repository
    load_changeset(
        db,
        repository_id,
        pull_requests=NO_PRS,
        check_runs=NO_RUNS,
        deleted_numbers=(),
        cursors=SyncCursors(check_run_failures={A: _failure(A)}),
        audit=SyncAudit(mode="incremental", started_at=T0),
        now=T0,
    )
    assert read_cursors(db, repository_id).check_run_failures == {A: _failure(A)}
    remove_repository(db, name, purge=True)
    row = db.execute(
        "SELECT count(*) FROM prmon.check_run_failures WHERE repository_id = %s", (repository_id,)
    ).fetchone()
    assert row == (0,)


def test_sync_runs_has_an_item_errors_count_defaulting_to_zero(
    db: Conn, repository: tuple[int, str]
) -> None:
    repository_id, _ = repository
    row = db.execute(
        "INSERT INTO prmon.sync_runs (repository_id, mode, started_at, status)"
        " VALUES (%s, 'incremental', %s, 'running') RETURNING item_errors",
        (repository_id, T0),
    ).fetchone()
    assert row == (0,)


def test_status_counts_the_refused_shas_and_says_when_they_are_asked_again(
    db: Conn, repository: tuple[int, str]
) -> None:
    repository_id, name = repository
    cursors = SyncCursors(check_run_failures={A: _failure(A), B: _failure(B, 3, 404)})
    write_cursors(db, repository_id, cursors, full=False, now=T0)
    (status,) = [s for s in read_status(db) if s.full_name == name]
    assert status.check_run_shas_refused == 2
    assert status.next_refused_retry_at == min(
        f.retry_after for f in cursors.check_run_failures.values()
    )
    assert status.notes() == [
        f"2 head SHAs refused by GitHub (gone commits), asked again from "
        f"{status.next_refused_retry_at:%Y-%m-%d %H:%M} UTC"
    ]
    # Refused items are not a problem of the repository (it was never synced here: that is one).
    assert status.problems(T0, timedelta(days=1)) == ["never synced"]
