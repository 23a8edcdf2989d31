"""The transactional load and the snapshot reader on a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import psycopg
import pyarrow as pa
import pytest

from prmon_pipeline.core import sql_text
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.warehouse import load
from prmon_pipeline.warehouse.audit import SyncAudit
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.cursors import read_cursors, write_cursors
from prmon_pipeline.warehouse.load import LoadResult, load_changeset
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline.warehouse.snapshot import read_pull_request_index, read_snapshot
from prmon_pipeline_tests.rows import T0, check_run, check_runs, pull_request, pull_requests

Conn = psycopg.Connection[tuple[object, ...]]
NO_RUNS = CHECK_RUN_SCHEMA.empty_table()
NO_PRS = PULL_REQUEST_SCHEMA.empty_table()


@pytest.fixture
def repository_id(db: Conn) -> int:
    return add_repository(db, f"acme/widgets-{uuid.uuid4().hex[:8]}").id


def _load(
    conn: Conn,
    repository_id: int,
    prs: pa.Table = NO_PRS,
    runs: pa.Table = NO_RUNS,
    deleted: tuple[int, ...] = (),
    cursors: SyncCursors | None = None,
    mode: str = "incremental",
) -> LoadResult:
    return load_changeset(
        conn,
        repository_id,
        pull_requests=prs,
        check_runs=runs,
        deleted_numbers=deleted,
        cursors=cursors or SyncCursors(),
        audit=SyncAudit(mode=mode, started_at=T0),  # type: ignore[arg-type]
        now=T0 + timedelta(days=1),
    )


def _sorted(table: pa.Table, *keys: str) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


HOSTILE = [
    pull_request(
        1,
        title="'; DROP TABLE prmon.pull_requests; --",
        body='quotes " and , commas\nnew lines\r\n\\backslashes\\ and {braces} ünïcödé 🚀',
        labels=["a,b", 'qu"ote', "back\\slash", "{brace}", "NULL", ""],
        assignees=["alice", "bob"],
    ),
    pull_request(2, body="", labels=[], head_repo_full_name=None, author_login=None),
    pull_request(3, body=None, state="merged", closed_at=T0, merged_at=T0, draft=True),
    pull_request(4, body="x" * 300_000, github_id=2**62, state="closed", closed_at=T0),
]


def test_rows_round_trip_exactly_through_load_and_snapshot(db: Conn, repository_id: int) -> None:
    prs = pull_requests(*HOSTILE)
    runs = check_runs(
        check_run(1, 10, output_title="", output_summary='"summary", \\ 🚀'),
        check_run(1, 2**40, status="in_progress", conclusion=None, completed_at=None),
        check_run(2, 12, completed_at=T0 - timedelta(minutes=5), conclusion="startup_failure"),
    )
    result = _load(db, repository_id, prs, runs)
    assert (result.counts.prs_new, result.counts.prs_updated, result.counts.check_runs_new) == (
        4,
        0,
        3,
    )
    assert result.counts.state_changes == 4
    stored_prs, stored_runs = read_snapshot(db, repository_id, None)
    assert _sorted(stored_prs, "number").equals(_sorted(prs, "number"))
    assert _sorted(stored_runs, "github_id").equals(_sorted(runs, "github_id"))
    only_two, runs_of_two = read_snapshot(db, repository_id, [2, 99])
    assert only_two.column("number").to_pylist() == [2]
    assert runs_of_two.column("github_id").to_pylist() == [12]


def test_newest_wins_and_identical_rows_are_not_rewritten(db: Conn, repository_id: int) -> None:
    _load(db, repository_id, pull_requests(pull_request(1, title="new", updated_at=T0)))
    stale = _load(
        db, repository_id, pull_requests(pull_request(1, title="old", updated_at=T0 - timedelta(1)))
    )
    same = _load(db, repository_id, pull_requests(pull_request(1, title="new", updated_at=T0)))
    newer = _load(
        db,
        repository_id,
        pull_requests(pull_request(1, title="newer", updated_at=T0 + timedelta(1))),
    )
    assert (stale.counts.prs_new, stale.counts.prs_updated) == (0, 0)
    assert (same.counts.prs_new, same.counts.prs_updated) == (0, 0)
    assert (newer.counts.prs_new, newer.counts.prs_updated) == (0, 1)
    prs, _ = read_snapshot(db, repository_id, [1])
    assert prs.column("title").to_pylist() == ["newer"]


def test_state_history_records_each_transition_made(db: Conn, repository_id: int) -> None:
    t = T0
    _load(db, repository_id, pull_requests(pull_request(1, updated_at=t)))
    _load(
        db,
        repository_id,
        pull_requests(pull_request(1, state="closed", closed_at=t, updated_at=t + timedelta(1))),
    )
    _load(
        db, repository_id, pull_requests(pull_request(1, state="open", updated_at=t + timedelta(2)))
    )
    stale = _load(
        db, repository_id, pull_requests(pull_request(1, state="closed", closed_at=t, updated_at=t))
    )
    _load(
        db,
        repository_id,
        pull_requests(
            pull_request(
                1,
                state="merged",
                closed_at=t + timedelta(3),
                merged_at=t + timedelta(3),
                updated_at=t + timedelta(3),
            )
        ),
    )
    rows = db.execute(
        "SELECT h.from_state, h.to_state FROM prmon.pr_state_history h"
        " JOIN prmon.pull_requests p ON p.id = h.pull_request_id"
        " WHERE p.repository_id = %s ORDER BY h.id",
        (repository_id,),
    ).fetchall()
    assert rows == [(None, "open"), ("open", "closed"), ("closed", "open"), ("open", "merged")]
    assert stale.counts.state_changes == 0


def test_check_runs_never_move_back_in_their_life_cycle(db: Conn, repository_id: int) -> None:
    _load(db, repository_id, pull_requests(pull_request(1)))
    done = check_run(1, 7)
    queued = check_run(1, 7, status="queued", conclusion=None, completed_at=None)
    _load(db, repository_id, runs=check_runs(done))
    back = _load(db, repository_id, runs=check_runs(queued))
    rerun = _load(db, repository_id, runs=check_runs(check_run(1, 8, name=done["name"])))
    assert (back.counts.check_runs_new, back.counts.check_runs_updated) == (0, 0)
    assert (rerun.counts.check_runs_new, rerun.counts.check_runs_updated) == (1, 0)
    index = read_pull_request_index(db, repository_id)
    assert index.column("check_runs").to_pylist() == [2]
    assert index.column("checks_pending").to_pylist() == [False]


def test_soft_delete_and_reappearance(db: Conn, repository_id: int) -> None:
    _load(db, repository_id, pull_requests(pull_request(1), pull_request(2)))
    gone = _load(db, repository_id, deleted=(2,), mode="full")
    assert gone.counts.prs_deleted == 1
    prs, _ = read_snapshot(db, repository_id, None)
    assert prs.column("number").to_pylist() == [1]
    back = _load(db, repository_id, pull_requests(pull_request(2)))
    assert back.counts.prs_updated == 1
    prs, _ = read_snapshot(db, repository_id, None)
    assert sorted(prs.column("number").to_pylist()) == [1, 2]


def test_cursors_are_stored_and_the_watermark_never_moves_back(
    db: Conn, repository_id: int
) -> None:
    later = SyncCursors(T0 + timedelta(1), '"etag-2"', {"a" * 40: '"c1"'})
    earlier = SyncCursors(T0, '"etag-1"', {"b" * 40: '"c2"'})
    _load(db, repository_id, cursors=later)
    _load(db, repository_id, cursors=earlier)
    stored = read_cursors(db, repository_id)
    assert stored.pulls_watermark == later.pulls_watermark
    assert stored.pulls_etag == '"etag-2"'
    assert stored.check_run_etags == {"b" * 40: '"c2"'}


def test_a_failing_load_leaves_nothing_behind(db: Conn, repository_id: int) -> None:
    bad = pull_requests(pull_request(1), pull_request(2, state="merged"))  # merged needs merged_at
    with pytest.raises(psycopg.errors.CheckViolation):
        _load(db, repository_id, bad, cursors=SyncCursors(T0, '"e"'))
    prs, _ = read_snapshot(db, repository_id, None)
    assert prs.num_rows == 0
    assert read_cursors(db, repository_id) == SyncCursors()
    runs = db.execute(
        "SELECT count(*) FROM prmon.sync_runs WHERE repository_id = %s", (repository_id,)
    )
    assert runs.fetchone() == (0,)


def _load_twice_at_once(
    database_url: str, repository_id: int, **tables: pa.Table
) -> list[LoadResult]:
    """The same load from two connections released together; both must succeed."""
    results: list[object] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with connect(database_url, autocommit=True) as conn:
                barrier.wait()
                results.append(_load(conn, repository_id, **tables))
        except Exception as exc:  # asserted below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, LoadResult) for r in results), results
    return [r for r in results if isinstance(r, LoadResult)]


def test_two_concurrent_loads_of_one_repository_serialise(
    database_url: str, repository_id: int
) -> None:
    rows = pull_requests(*[pull_request(n) for n in range(1, 501)])
    results = _load_twice_at_once(database_url, repository_id, prs=rows)
    assert sorted(r.counts.prs_new for r in results) == [0, 500]


def test_cursor_etags_written_as_a_difference_from_the_previous_ones(
    db: Conn, repository_id: int
) -> None:
    first = SyncCursors(T0, '"p"', {"a" * 40: '"1"', "b" * 40: '"2"', "c" * 40: '"3"'})
    write_cursors(db, repository_id, first, full=False, now=T0)
    second = SyncCursors(T0, '"p"', {"a" * 40: '"1"', "b" * 40: '"2b"', "d" * 40: '"4"'})
    write_cursors(db, repository_id, second, full=False, now=T0, previous=first)
    assert read_cursors(db, repository_id).check_run_etags == second.check_run_etags


def _stored_runs(db: Conn, repository_id: int) -> list[dict[str, object]]:
    _, runs = read_snapshot(db, repository_id, None)
    return _sorted(runs, "pr_number", "github_id").to_pylist()


def _count_runs(db: Conn, repository_id: int) -> int:
    row = db.execute(
        "SELECT count(*) FROM prmon.check_runs WHERE repository_id = %s", (repository_id,)
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


FIRST_RUNS = check_runs(
    check_run(1, 1),
    check_run(1, 2, status="in_progress", conclusion=None, completed_at=None),
    check_run(2, 3, output_title="", output_summary='quotes " , and\nlines'),
    check_run(9, 4),  # PR 9 is not in the warehouse: dropped by either path
)


def test_a_repositorys_first_check_runs_are_copied_straight_in_and_match_the_merge(
    db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    prs = pull_requests(pull_request(1), pull_request(2))
    direct = add_repository(db, f"acme/direct-{uuid.uuid4().hex[:8]}").id
    merged = add_repository(db, f"acme/merged-{uuid.uuid4().hex[:8]}").id
    _load(db, direct, prs)
    _load(db, merged, prs)
    copied = _load(db, direct, runs=FIRST_RUNS)
    monkeypatch.setattr(load, "_copy_new_check_runs", _refuse_direct_copy)
    through_merge = _load(db, merged, runs=FIRST_RUNS)
    assert (copied.counts.check_runs_new, copied.counts.check_runs_updated) == (3, 0)
    assert (through_merge.counts.check_runs_new, through_merge.counts.check_runs_updated) == (3, 0)
    assert _stored_runs(db, direct) == _stored_runs(db, merged)
    assert [r["github_id"] for r in _stored_runs(db, direct)] == [1, 2, 3]
    pending = db.execute(
        "SELECT count(*) FROM prmon.check_runs WHERE repository_id = %s AND status <> 'completed'",
        (direct,),
    ).fetchone()
    assert pending == (1,)


def _refuse_direct_copy(*_: object) -> None:
    """Stands in for the direct COPY: None sends the load down the MERGE path."""
    return None


def test_later_loads_merge_with_exact_counts(db: Conn, repository_id: int) -> None:
    _load(db, repository_id, pull_requests(pull_request(1), pull_request(2)))
    _load(db, repository_id, runs=FIRST_RUNS)
    again = check_runs(
        check_run(1, 1),  # identical: not rewritten
        check_run(1, 2),  # completed now: updated
        check_run(2, 3, output_title="", output_summary='quotes " , and\nlines'),
        check_run(2, 5),  # a re-run: new
    )
    result = _load(db, repository_id, runs=again)
    assert (result.counts.check_runs_new, result.counts.check_runs_updated) == (1, 1)
    assert _count_runs(db, repository_id) == 4


def test_the_direct_copy_falls_back_to_the_merge_when_runs_are_there_after_all(
    db: Conn, repository_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that skips the advisory lock stored runs after the load looked: no duplicates."""
    _load(db, repository_id, pull_requests(pull_request(1), pull_request(2)))
    _load(db, repository_id, runs=check_runs(check_run(1, 1), check_run(1, 2, status="queued")))
    monkeypatch.setattr(load, "_repository_has_check_runs", lambda *_: False)
    result = _load(db, repository_id, runs=FIRST_RUNS)
    assert (result.counts.check_runs_new, result.counts.check_runs_updated) == (1, 1)
    assert [r["github_id"] for r in _stored_runs(db, repository_id)] == [1, 2, 3]
    assert _stored_runs(db, repository_id)[1]["status"] == "in_progress"


def test_a_failing_direct_copy_leaves_nothing_behind(db: Conn, repository_id: int) -> None:
    _load(db, repository_id, pull_requests(pull_request(1)))
    bad = check_runs(check_run(1, 1), check_run(1, 2, status="exploded"))
    with pytest.raises(psycopg.errors.CheckViolation):
        _load(db, repository_id, runs=bad, cursors=SyncCursors(T0, '"e"'))
    assert _count_runs(db, repository_id) == 0
    assert read_cursors(db, repository_id) == SyncCursors()
    audit = db.execute(
        "SELECT count(*) FROM prmon.sync_runs WHERE repository_id = %s", (repository_id,)
    ).fetchone()
    assert audit == (1,)  # the PR load's row only


def test_a_first_load_of_prs_and_runs_together_copies_the_runs(
    db: Conn, repository_id: int
) -> None:
    prs = pull_requests(pull_request(1), pull_request(2))
    result = _load(db, repository_id, prs, FIRST_RUNS)
    assert (
        result.counts.prs_new,
        result.counts.check_runs_new,
        result.counts.check_runs_updated,
    ) == (2, 3, 0)
    index = read_pull_request_index(db, repository_id)
    assert index.column("check_runs").to_pylist() == [2, 1]
    assert index.column("checks_pending").to_pylist() == [True, False]


def test_two_concurrent_first_loads_of_check_runs_store_each_run_once(
    database_url: str, db: Conn, repository_id: int
) -> None:
    _load(db, repository_id, pull_requests(*[pull_request(n) for n in range(1, 51)]))
    runs = check_runs(*[check_run(n, 1000 * n + k) for n in range(1, 51) for k in range(10)])
    results = _load_twice_at_once(database_url, repository_id, runs=runs)
    counts = sorted((r.counts.check_runs_new, r.counts.check_runs_updated) for r in results)
    assert counts == [(0, 0), (500, 0)]
    assert _count_runs(db, repository_id) == 500


@pytest.mark.parametrize("table", sorted(sql_text.PLANNED_COLUMNS))
def test_the_statistics_refresh_names_columns_that_exist(db: Conn, table: str) -> None:
    db.execute(sql_text.analyze_sql(table))
