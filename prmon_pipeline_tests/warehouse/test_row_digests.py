"""Row digests on a real PostgreSQL: the load writes Python's digests, SQL computes the same ones,
and migration 007 fills the digests of rows stored before it (no cold re-sync after an upgrade)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg
import pyarrow as pa
import pytest

from prmon_pipeline.core.changeset import compute_changeset
from prmon_pipeline.core.changeset_digests import compute_changeset_from_digests
from prmon_pipeline.core.digests import stored_check_runs, stored_pull_requests
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.migrations import SQL_DIR, migrate
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline.warehouse.snapshot import read_snapshot, read_snapshot_by_digest
from prmon_pipeline_tests.core.test_changeset import assert_tables_equal
from prmon_pipeline_tests.core.test_digests import PINNED_CHECK_RUNS, PINNED_PULL_REQUESTS
from prmon_pipeline_tests.databases import throwaway_database
from prmon_pipeline_tests.rows import check_run, check_runs, pull_request, pull_requests
from prmon_pipeline_tests.warehouse.test_load import _load

Conn = psycopg.Connection[tuple[object, ...]]
DIGEST_MIGRATION = 7
BEFORE_1970 = datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=UTC)


def _tricky_pull_requests() -> pa.Table:
    """Rows that exercise each rule of the canonical text on both engines."""
    return pull_requests(
        *(row for row, _, _ in PINNED_PULL_REQUESTS),
        pull_request(3, title="a:b", body="c", labels=["b", "a:", "", "Z", "é"], assignees=[]),
        pull_request(4, title="a", body=":bc", labels=["ü"], created_at=BEFORE_1970),
        pull_request(5, title="☃ \u00e9\u0301 \U0001f600", body='line\n"quoted",\r\n', draft=True),
    )


def _tricky_check_runs() -> pa.Table:
    return check_runs(
        *(row for row, _, _ in PINNED_CHECK_RUNS),
        check_run(3, 12, output_title="", output_summary="-", conclusion="startup_failure"),
        check_run(4, 13, started_at=BEFORE_1970, completed_at=None, details_url=None),
        check_run(5, 14, name="x" * 5000, output_summary="\U0001f600" * 100),
    )


def _stored_digests(conn: Conn, repository_id: int) -> dict[tuple[int, ...], tuple[str, str]]:
    """Each row's stored digest and the digest SQL computes from its columns, as hex."""
    prs = conn.execute(
        "SELECT p.number, encode(p.digest, 'hex'), encode(prmon.pull_request_digest(p), 'hex')"
        " FROM prmon.pull_requests p WHERE p.repository_id = %s",
        (repository_id,),
    ).fetchall()
    runs = conn.execute(
        "SELECT p.number, c.github_id, encode(c.digest, 'hex'),"
        " encode(prmon.check_run_digest(c), 'hex') FROM prmon.check_runs c"
        " JOIN prmon.pull_requests p ON p.id = c.pull_request_id WHERE c.repository_id = %s",
        (repository_id,),
    ).fetchall()
    stored: dict[tuple[int, ...], tuple[str, str]] = {}
    for number, digest, computed in prs:
        stored[(int(str(number)),)] = (str(digest), str(computed))
    for number, github_id, digest, computed in runs:
        stored[(int(str(number)), int(str(github_id)))] = (str(digest), str(computed))
    return stored


def _python_digests(prs: pa.Table, runs: pa.Table) -> dict[tuple[int, ...], str]:
    expected: dict[tuple[int, ...], str] = {}
    for row in stored_pull_requests(prs).to_pylist():
        expected[(row["number"],)] = row["digest"].hex()
    for row in stored_check_runs(runs).to_pylist():
        expected[(row["pr_number"], row["github_id"])] = row["digest"].hex()
    return expected


@pytest.fixture
def warehouse(server_url: str) -> Iterator[str]:
    """A database whose default collation is not byte order (ICU ``en-US``) where the server has
    ICU: the SQL digest must sort labels by byte order as Polars does, whatever the database's
    collation says. The embedded server has no ICU; there that rule goes untested.
    """
    yield from throwaway_database(server_url, "prmon_test_digests", _icu_options(server_url))


def _icu_options(server_url: str) -> str:
    """``CREATE DATABASE`` options for ICU ``en-US``, or none if the server was built without."""
    options = " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
    probe = f"prmon_test_icu_{uuid.uuid4().hex[:12]}"
    with connect(server_url, autocommit=True) as admin:
        try:
            admin.execute(f'CREATE DATABASE "{probe}"{options}')
        except psycopg.errors.FeatureNotSupported:
            return ""
        admin.execute(f'DROP DATABASE "{probe}"')
    return options


def test_the_load_stores_the_digests_that_sql_computes(warehouse: str) -> None:
    prs, runs = _tricky_pull_requests(), _tricky_check_runs()
    with connect(warehouse, autocommit=True) as conn:
        migrate(conn)
        repository_id = add_repository(conn, f"acme/d-{uuid.uuid4().hex[:6]}").id
        _load(conn, repository_id, prs, runs)
        stored = _stored_digests(conn, repository_id)
    expected = _python_digests(prs, runs)
    assert {key: digest for key, (digest, _) in stored.items()} == expected
    assert {key: computed for key, (_, computed) in stored.items()} == expected
    assert stored[(1,)][0] == PINNED_PULL_REQUESTS[0][2]
    assert stored[(1, 11)][0] == PINNED_CHECK_RUNS[1][2]


def _insert_without_digests(conn: Conn, repository_id: int, prs: pa.Table, runs: pa.Table) -> None:
    """Rows as a warehouse before migration 007 holds them (no digest column yet)."""
    pr_columns = ", ".join(PULL_REQUEST_SCHEMA.names)
    pr_values = ", ".join(f"%({name})s" for name in PULL_REQUEST_SCHEMA.names)
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO prmon.pull_requests (repository_id, {pr_columns})"
            f" VALUES ({repository_id}, {pr_values})",
            prs.to_pylist(),
        )
        run_names = [name for name in CHECK_RUN_SCHEMA.names if name != "pr_number"]
        run_values = ", ".join(f"%({name})s" for name in run_names)
        cursor.executemany(
            f"INSERT INTO prmon.check_runs (repository_id, pull_request_id, {', '.join(run_names)})"
            f" SELECT {repository_id}, p.id, {run_values} FROM prmon.pull_requests p"
            f" WHERE p.repository_id = {repository_id} AND p.number = %(pr_number)s",
            runs.to_pylist(),
        )


def test_migration_007_fills_the_digests_of_rows_stored_before_it(
    warehouse: str, tmp_path: Path
) -> None:
    earlier = tmp_path / "sql"
    earlier.mkdir()
    for path in SQL_DIR.glob("*.sql"):
        if int(path.name.split("_", 1)[0]) < DIGEST_MIGRATION:
            shutil.copy(path, earlier / path.name)
    prs, runs = _tricky_pull_requests(), _tricky_check_runs()
    with connect(warehouse, autocommit=True) as conn:
        migrate(conn, earlier)
        repository_id = add_repository(conn, f"acme/u-{uuid.uuid4().hex[:6]}").id
        _insert_without_digests(conn, repository_id, prs, runs)
        applied = migrate(conn)
        stored = _stored_digests(conn, repository_id)
    assert DIGEST_MIGRATION in [migration.version for migration in applied]
    expected = _python_digests(prs, runs)
    assert len(expected) == 10
    assert {key: digest for key, (digest, _) in stored.items()} == expected


def test_the_digest_first_snapshot_reads_in_full_only_the_rows_that_changed(
    warehouse: str,
) -> None:
    """Two of five PRs and two of five runs changed (one PR only in its label order, which is
    no change); a PR and a run are new. Only the changed rows are read in full, and the changeset
    equals the full comparison's on the whole snapshot."""
    prs, runs = _tricky_pull_requests(), _tricky_check_runs()
    with connect(warehouse, autocommit=True) as conn:
        migrate(conn)
        repository_id = add_repository(conn, f"acme/s-{uuid.uuid4().hex[:6]}").id
        _load(conn, repository_id, prs, runs)
        rows = prs.to_pylist()
        rows[1]["title"] = "edited"
        rows[2]["labels"] = list(reversed(rows[2]["labels"]))  # a disguise, not a change
        rows[4]["state"] = "closed"
        rows[4]["closed_at"] = BEFORE_1970
        incoming_prs = pull_requests(*rows, pull_request(6))
        run_rows = runs.to_pylist()
        run_rows[0]["status"] = "queued"
        run_rows[3]["output_summary"] = "now set"
        incoming_runs = check_runs(*run_rows, check_run(6, 60))
        snapshot = read_snapshot_by_digest(
            conn, repository_id, [1, 2, 3, 4, 5, 6], incoming_prs, incoming_runs
        )
        full_prs, full_runs = read_snapshot(conn, repository_id, [1, 2, 3, 4, 5, 6])
    assert snapshot.differing_pull_requests.column("number").to_pylist() == [2, 5]
    read_runs = snapshot.differing_check_runs.select(["pr_number", "github_id"]).to_pylist()
    assert sorted((r["pr_number"], r["github_id"]) for r in read_runs) == [(1, 10), (4, 13)]
    assert snapshot.comparison.prs_equal == 3
    assert snapshot.comparison.check_runs_equal == 3
    digest_first = compute_changeset_from_digests(
        snapshot.comparison,
        snapshot.differing_pull_requests,
        snapshot.differing_check_runs,
        "incremental",
    )
    full = compute_changeset(incoming_prs, full_prs, incoming_runs, full_runs, "incremental")
    assert digest_first.summary() == full.summary()
    for name, table in full.tables().items():
        assert_tables_equal(digest_first.tables()[name], table)
    assert digest_first.prs_new.column("number").to_pylist() == [6]
    assert digest_first.prs_updated.column("number").to_pylist() == [2, 5]
    # The new PR and its run were not digested: nothing stored can equal them.
    incoming = snapshot.comparison.incoming
    undigested_prs = incoming.pull_requests.filter(pl.col("digest").is_null())
    assert undigested_prs["number"].to_list() == [6]
    undigested_runs = incoming.check_runs.filter(pl.col("digest").is_null())
    assert undigested_runs["github_id"].to_list() == [60]


def test_a_first_sync_digests_nothing_and_reads_nothing_in_full(warehouse: str) -> None:
    """No stored PR among the touched ones: every incoming row is new, none is digested (the
    load digests what it writes), and the changeset is the full comparison's."""
    prs, runs = _tricky_pull_requests(), _tricky_check_runs()
    with connect(warehouse, autocommit=True) as conn:
        migrate(conn)
        repository_id = add_repository(conn, f"acme/c-{uuid.uuid4().hex[:6]}").id
        snapshot = read_snapshot_by_digest(conn, repository_id, None, prs, runs)
    incoming = snapshot.comparison.incoming
    assert incoming.pull_requests["digest"].null_count() == prs.num_rows
    assert incoming.check_runs["digest"].null_count() == runs.num_rows
    assert snapshot.differing_pull_requests.num_rows == 0
    assert snapshot.differing_check_runs.num_rows == 0
    changeset = compute_changeset_from_digests(
        snapshot.comparison,
        snapshot.differing_pull_requests,
        snapshot.differing_check_runs,
        "full",
    )
    full = compute_changeset(
        prs, PULL_REQUEST_SCHEMA.empty_table(), runs, CHECK_RUN_SCHEMA.empty_table(), "full"
    )
    for name, table in full.tables().items():
        assert_tables_equal(changeset.tables()[name], table)


def test_a_row_without_its_digest_is_read_in_full_and_found_unchanged(warehouse: str) -> None:
    """A NULL digest (a row written by something other than prmon's load) is never taken for
    equal: the row is compared in full, and an identical row is still reported unchanged."""
    prs, runs = _tricky_pull_requests(), _tricky_check_runs()
    with connect(warehouse, autocommit=True) as conn:
        migrate(conn)
        repository_id = add_repository(conn, f"acme/n-{uuid.uuid4().hex[:6]}").id
        _load(conn, repository_id, prs, runs)
        conn.execute(
            "UPDATE prmon.pull_requests SET digest = NULL WHERE number = 3 AND repository_id = %s",
            (repository_id,),
        )
        conn.execute(
            "UPDATE prmon.check_runs SET digest = NULL WHERE github_id = 12 AND repository_id = %s",
            (repository_id,),
        )
        snapshot = read_snapshot_by_digest(conn, repository_id, None, prs, runs)
    assert snapshot.differing_pull_requests.column("number").to_pylist() == [3]
    assert snapshot.differing_check_runs.column("github_id").to_pylist() == [12]
    changeset = compute_changeset_from_digests(
        snapshot.comparison,
        snapshot.differing_pull_requests,
        snapshot.differing_check_runs,
        "full",
    )
    assert changeset.is_empty
    assert changeset.prs_unchanged == prs.num_rows
    assert changeset.check_runs_unchanged == runs.num_rows
