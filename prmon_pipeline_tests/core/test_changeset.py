"""Changeset examples: one test per rule of the sync-engine issue (new, updated, stale, gone,
normalisation, state transitions, check runs, Parquet), on tables small enough to read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from prmon_pipeline.core.changeset import (
    CHANGESET_TABLE_SCHEMAS,
    Changeset,
    apply_changeset,
    compute_changeset,
    empty_changeset,
)
from prmon_pipeline.core.changeset_check_runs import (
    COMPARED_CHECK_RUN_COLUMNS,
    OrphanCheckRunsError,
)
from prmon_pipeline.core.changeset_pull_requests import COMPARED_PULL_REQUEST_COLUMNS
from prmon_pipeline.core.models import SyncMode
from prmon_pipeline.core.normalise import SchemaConformanceError, conform, to_frame
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA

CREATED = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
UPDATED = datetime(2024, 5, 2, 14, 0, 0, 123456, tzinfo=UTC)


def pr_row(number: int, **changes: Any) -> dict[str, Any]:
    """A pull request as the warehouse holds it (canonical form); ``changes`` override fields."""
    row: dict[str, Any] = {
        "number": number,
        "github_id": 1_000_000_000_000 + number,
        "title": f"Fix issue {number}",
        "body": None,
        "state": "open",
        "draft": False,
        "author_login": "octocat",
        "base_ref": "main",
        "base_sha": "a" * 40,
        "head_ref": f"fix-{number}",
        "head_sha": "b" * 40,
        "head_repo_full_name": "octocat/hello",
        "labels": ["bug", "ci"],
        "assignees": [],
        "html_url": f"https://github.com/octo/hello/pull/{number}",
        "created_at": CREATED,
        "updated_at": UPDATED,
        "closed_at": None,
        "merged_at": None,
    }
    row.update(changes)
    return row


def check_run_row(pr_number: int, github_id: int, **changes: Any) -> dict[str, Any]:
    """A check run as the warehouse holds it; ``changes`` override fields."""
    row: dict[str, Any] = {
        "pr_number": pr_number,
        "github_id": github_id,
        "head_sha": "b" * 40,
        "name": "tests",
        "status": "in_progress",
        "conclusion": None,
        "app_slug": "github-actions",
        "details_url": f"https://github.com/octo/hello/runs/{github_id}",
        "started_at": CREATED,
        "completed_at": None,
        "output_title": None,
        "output_summary": None,
    }
    row.update(changes)
    return row


def pr_table(*rows: dict[str, Any], schema: pa.Schema = PULL_REQUEST_SCHEMA) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)


def check_run_table(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=CHECK_RUN_SCHEMA)


def changeset_of(
    incoming: pa.Table,
    snapshot: pa.Table,
    incoming_runs: pa.Table | None = None,
    snapshot_runs: pa.Table | None = None,
    mode: SyncMode = "incremental",
) -> Changeset:
    return compute_changeset(
        incoming,
        snapshot,
        CHECK_RUN_SCHEMA.empty_table() if incoming_runs is None else incoming_runs,
        CHECK_RUN_SCHEMA.empty_table() if snapshot_runs is None else snapshot_runs,
        mode,
    )


def assert_tables_equal(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.schema == expected.schema
    assert_frame_equal(to_frame(actual), to_frame(expected))


def field_changes(changeset: Changeset) -> list[tuple[int, str, str | None, str | None]]:
    return [
        (row["number"], row["field"], row["old_value"], row["new_value"])
        for row in changeset.pr_field_changes.to_pylist()
    ]


def transitions(changeset: Changeset) -> list[tuple[int, str | None, str]]:
    return [
        (row["number"], row["from_state"], row["to_state"])
        for row in changeset.state_transitions.to_pylist()
    ]


# --- pull requests: new, updated, unchanged, stale, gone -------------------------------------


def test_new_pr_is_upserted_and_first_seen() -> None:
    changeset = changeset_of(pr_table(pr_row(1), pr_row(2)), pr_table(pr_row(1)))

    assert_tables_equal(changeset.prs_new, pr_table(pr_row(2)))
    assert changeset.prs_updated.num_rows == 0
    assert changeset.prs_unchanged == 1
    assert transitions(changeset) == [(2, None, "open")]


def test_updated_pr_lists_each_changed_field_with_old_and_new_value() -> None:
    later = UPDATED + timedelta(hours=1)
    incoming = pr_row(1, title="Fix it properly", updated_at=later, labels=["bug"])
    changeset = changeset_of(pr_table(incoming), pr_table(pr_row(1)))

    assert_tables_equal(changeset.prs_updated, pr_table(incoming))
    assert field_changes(changeset) == [
        (1, "title", "Fix issue 1", "Fix it properly"),
        (1, "labels", '["bug","ci"]', '["bug"]'),
        (1, "updated_at", "2024-05-02T14:00:00.123456Z", "2024-05-02T15:00:00.123456Z"),
    ]
    assert changeset.field_change_counts() == {"labels": 1, "title": 1, "updated_at": 1}
    assert transitions(changeset) == []


PR_CHANGES: dict[str, Any] = {
    "github_id": 42,
    "title": "Renamed",
    "body": "Described",
    "state": "closed",
    "draft": True,
    "author_login": None,
    "base_ref": "release",
    "base_sha": "c" * 40,
    "head_ref": "other",
    "head_sha": "d" * 40,
    "head_repo_full_name": None,
    "labels": ["bug", "ci", "docs"],
    "assignees": ["amy"],
    "html_url": "https://github.com/octo/renamed/pull/1",
    "created_at": CREATED - timedelta(microseconds=1),
    "updated_at": UPDATED + timedelta(microseconds=1),
    "closed_at": UPDATED,
    "merged_at": UPDATED,
}


def test_every_compared_pr_field_has_a_case() -> None:
    assert set(PR_CHANGES) == set(COMPARED_PULL_REQUEST_COLUMNS)


@pytest.mark.parametrize("field", list(PR_CHANGES))
def test_pr_field_change_alone_is_an_update(field: str) -> None:
    incoming = pr_row(1, **{field: PR_CHANGES[field]})
    changeset = changeset_of(pr_table(incoming), pr_table(pr_row(1)))

    assert_tables_equal(changeset.prs_updated, pr_table(incoming))
    assert [change[1] for change in field_changes(changeset)] == [field]


def test_field_change_text_renders_null_booleans_and_numbers() -> None:
    incoming = pr_row(1, draft=True, body="Now described", github_id=7, head_repo_full_name=None)
    changeset = changeset_of(pr_table(incoming), pr_table(pr_row(1)))

    assert field_changes(changeset) == [
        (1, "github_id", "1000000000001", "7"),
        (1, "body", None, "Now described"),
        (1, "draft", "false", "true"),
        (1, "head_repo_full_name", "octocat/hello", None),
    ]


def test_identical_prs_produce_nothing() -> None:
    rows = pr_table(pr_row(1), pr_row(2, state="merged", merged_at=UPDATED, closed_at=UPDATED))
    changeset = changeset_of(rows, rows, mode="full")

    assert changeset.is_empty
    assert changeset.prs_unchanged == 2
    assert changeset.pr_field_changes.num_rows == 0
    assert changeset.state_transitions.num_rows == 0


def test_older_incoming_pr_is_stale_not_an_update() -> None:
    older = pr_row(1, title="Old title", state="closed", updated_at=UPDATED - timedelta(seconds=1))
    changeset = changeset_of(pr_table(older), pr_table(pr_row(1)))

    assert changeset.prs_stale == 1
    assert changeset.prs_updated.num_rows == 0
    assert changeset.prs_unchanged == 0
    assert changeset.pr_field_changes.num_rows == 0
    assert changeset.state_transitions.num_rows == 0
    assert changeset.is_empty


def test_equal_updated_at_with_a_different_field_is_an_update() -> None:
    """GitHub changes some fields (a deleted fork's repo name) without bumping updated_at."""
    incoming = pr_row(1, head_repo_full_name=None)
    changeset = changeset_of(pr_table(incoming), pr_table(pr_row(1)))

    assert changeset.prs_updated.num_rows == 1
    assert field_changes(changeset) == [(1, "head_repo_full_name", "octocat/hello", None)]


def test_duplicate_incoming_pr_keeps_the_newest_row() -> None:
    newest = pr_row(1, title="newest", updated_at=UPDATED + timedelta(minutes=5))
    older = pr_row(1, title="older", updated_at=UPDATED + timedelta(minutes=1))
    changeset = changeset_of(pr_table(newest, older), pr_table(pr_row(1)))

    assert changeset.prs_updated.column("title").to_pylist() == ["newest"]


@pytest.mark.parametrize(
    ("mode", "deleted"), [("full", [2, 3]), ("incremental", []), ("single", [])]
)
def test_prs_gone_from_github_are_deleted_in_full_mode_only(
    mode: SyncMode, deleted: list[int]
) -> None:
    changeset = changeset_of(
        pr_table(pr_row(1)), pr_table(pr_row(1), pr_row(2), pr_row(3)), mode=mode
    )

    assert changeset.prs_deleted.column("number").to_pylist() == deleted
    assert changeset.prs_unchanged == 1


def test_stale_pr_is_not_gone_in_full_mode() -> None:
    older = pr_row(1, updated_at=UPDATED - timedelta(days=1))
    changeset = changeset_of(pr_table(older), pr_table(pr_row(1)), mode="full")

    assert changeset.prs_deleted.num_rows == 0
    assert changeset.prs_stale == 1


# --- normalisation: no false positives ----------------------------------------------------------


def test_label_and_assignee_order_is_not_a_change() -> None:
    incoming = pr_row(1, labels=["ci", "bug"], assignees=["zed", "amy"])
    snapshot = pr_row(1, labels=["bug", "ci"], assignees=["amy", "zed"])
    changeset = changeset_of(pr_table(incoming), pr_table(snapshot))

    assert changeset.is_empty
    assert changeset.prs_unchanged == 1


def test_new_pr_is_written_with_sorted_labels() -> None:
    changeset = changeset_of(pr_table(pr_row(1, labels=["z", "a"])), pr_table())

    assert changeset.prs_new.column("labels").to_pylist() == [["a", "z"]]


def test_null_list_equals_empty_list() -> None:
    nullable_lists = pa.schema(
        [
            field.with_nullable(True) if field.name in ("labels", "assignees") else field
            for field in PULL_REQUEST_SCHEMA
        ]
    )
    incoming = pr_table(pr_row(1, labels=None, assignees=None), schema=nullable_lists)
    changeset = changeset_of(incoming, pr_table(pr_row(1, labels=[], assignees=[])))

    assert changeset.is_empty


@pytest.mark.parametrize(("incoming_body", "snapshot_body"), [("", None), (None, "")])
def test_empty_body_equals_null_body(incoming_body: str | None, snapshot_body: str | None) -> None:
    changeset = changeset_of(
        pr_table(pr_row(1, body=incoming_body)), pr_table(pr_row(1, body=snapshot_body))
    )

    assert changeset.is_empty


def test_empty_title_is_not_null_title() -> None:
    """Only body treats "" as absent; any other text field's "" is a real value."""
    changeset = changeset_of(pr_table(pr_row(1, head_repo_full_name="")), pr_table(pr_row(1)))

    assert field_changes(changeset) == [(1, "head_repo_full_name", "octocat/hello", "")]


def test_sub_microsecond_digits_and_time_zone_are_not_a_change() -> None:
    nanoseconds_in_kolkata = (
        to_frame(pr_table(pr_row(1)))
        .with_columns(
            pl.col(name).cast(pl.Datetime("ns", "Asia/Kolkata")) + pl.duration(nanoseconds=999)
            for name in ("created_at", "updated_at")
        )
        .to_arrow()
    )
    assert nanoseconds_in_kolkata.schema.field("updated_at").type == pa.timestamp(
        "ns", tz="Asia/Kolkata"
    )
    changeset = changeset_of(nanoseconds_in_kolkata, pr_table(pr_row(1)))

    assert changeset.is_empty
    assert changeset.prs_unchanged == 1


def test_zone_less_timestamps_are_read_as_utc() -> None:
    naive = to_frame(pr_table(pr_row(1))).with_columns(
        pl.col("updated_at").dt.replace_time_zone(None)
    )
    changeset = changeset_of(naive.to_arrow(), pr_table(pr_row(1)))

    assert changeset.is_empty


# --- state transitions ---------------------------------------------------------------------------

CLOSED = {"closed_at": UPDATED}
MERGED = {"closed_at": UPDATED, "merged_at": UPDATED}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"state": "open"}, {"state": "closed", **CLOSED}, [(1, "open", "closed")]),
        ({"state": "closed", **CLOSED}, {"state": "open"}, [(1, "closed", "open")]),
        ({"state": "open"}, {"state": "merged", **MERGED}, [(1, "open", "merged")]),
        ({"state": "closed", **CLOSED}, {"state": "merged", **MERGED}, [(1, "closed", "merged")]),
        ({"state": "merged", **MERGED}, {"state": "closed", **CLOSED}, []),
        ({"state": "open"}, {"state": "open", "title": "renamed"}, []),
    ],
    ids=["open-closed", "closed-open", "open-merged", "closed-merged", "merged-terminal", "none"],
)
def test_state_transitions(
    before: dict[str, Any], after: dict[str, Any], expected: list[tuple[int, str, str]]
) -> None:
    changeset = changeset_of(pr_table(pr_row(1, **after)), pr_table(pr_row(1, **before)))

    assert transitions(changeset) == expected
    assert changeset.prs_updated.num_rows == 1


@pytest.mark.parametrize("state", ["open", "closed", "merged"])
def test_first_seen_transition_starts_from_null(state: str) -> None:
    changeset = changeset_of(pr_table(pr_row(9, state=state)), pr_table())

    assert transitions(changeset) == [(9, None, state)]


def test_stale_state_change_is_not_a_transition() -> None:
    stale = pr_row(1, state="closed", updated_at=UPDATED - timedelta(hours=1))
    changeset = changeset_of(pr_table(stale), pr_table(pr_row(1)))

    assert transitions(changeset) == []


# --- check runs ----------------------------------------------------------------------------------


def test_new_check_run_is_found_by_pr_and_id() -> None:
    """The same run id on another PR (a shared head SHA) is a new row of its own."""
    prs = pr_table(pr_row(1), pr_row(2))
    changeset = changeset_of(
        prs,
        prs,
        check_run_table(check_run_row(1, 10), check_run_row(2, 10), check_run_row(1, 11)),
        check_run_table(check_run_row(1, 10)),
    )

    assert changeset.check_runs_new.to_pylist() == [check_run_row(1, 11), check_run_row(2, 10)]
    assert changeset.check_runs_unchanged == 1


CHECK_RUN_CHANGES: dict[str, Any] = {
    "head_sha": "c" * 40,
    "name": "lint",
    "status": "completed",
    "conclusion": "startup_failure",
    "app_slug": "circleci",
    "details_url": "https://ci.example/1",
    "started_at": CREATED + timedelta(minutes=1),
    "completed_at": CREATED - timedelta(seconds=3),
    "output_title": "2 failed",
    "output_summary": "see log",
}


def test_every_compared_check_run_field_has_a_case() -> None:
    assert set(CHECK_RUN_CHANGES) == set(COMPARED_CHECK_RUN_COLUMNS)


@pytest.mark.parametrize("field", sorted(CHECK_RUN_CHANGES))
def test_check_run_field_change_is_an_update(field: str) -> None:
    prs = pr_table(pr_row(1))
    changed = check_run_row(1, 10, **{field: CHECK_RUN_CHANGES[field]})
    changeset = changeset_of(
        prs, prs, check_run_table(changed), check_run_table(check_run_row(1, 10))
    )

    assert_tables_equal(changeset.check_runs_updated, check_run_table(changed))
    assert changeset.check_runs_new.num_rows == 0
    assert changeset.check_runs_unchanged == 0


def test_check_runs_missing_from_incoming_are_kept() -> None:
    prs = pr_table(pr_row(1))
    snapshot_runs = check_run_table(check_run_row(1, 10), check_run_row(1, 11))
    changeset = changeset_of(prs, prs, check_run_table(), snapshot_runs, mode="full")

    assert changeset.is_empty
    _, runs = apply_changeset(prs, snapshot_runs, changeset)
    assert_tables_equal(runs, snapshot_runs)


def test_check_runs_of_a_pr_only_in_the_snapshot_are_compared() -> None:
    """Pending-check PRs are in the snapshot but not in an incremental walk's incoming PRs."""
    changeset = changeset_of(
        pr_table(),
        pr_table(pr_row(4)),
        check_run_table(check_run_row(4, 40, status="completed", conclusion="success")),
        check_run_table(check_run_row(4, 40)),
    )

    assert changeset.check_runs_updated.num_rows == 1


def test_check_runs_of_an_unknown_pr_raise() -> None:
    with pytest.raises(OrphanCheckRunsError, match=r"2 check runs reference pull requests #7, #8"):
        changeset_of(
            pr_table(pr_row(1)),
            pr_table(),
            check_run_table(check_run_row(1, 1), check_run_row(7, 70), check_run_row(8, 80)),
        )


# --- the Changeset value -------------------------------------------------------------------------


def mixed_changeset() -> tuple[pa.Table, pa.Table, Changeset]:
    snapshot = pr_table(pr_row(1), pr_row(2), pr_row(3))
    snapshot_runs = check_run_table(check_run_row(1, 10), check_run_row(2, 20))
    changeset = changeset_of(
        pr_table(pr_row(5), pr_row(1, state="closed", **CLOSED), pr_row(2)),
        snapshot,
        check_run_table(check_run_row(1, 10, status="completed"), check_run_row(5, 50)),
        snapshot_runs,
        mode="full",
    )
    return snapshot, snapshot_runs, changeset


def test_every_table_conforms_exactly_to_its_schema() -> None:
    _, _, changeset = mixed_changeset()

    for name, table in changeset.tables().items():
        assert table.schema.equals(CHANGESET_TABLE_SCHEMAS[name]), name


def test_summary_and_upserts() -> None:
    _, _, changeset = mixed_changeset()

    assert changeset.summary() == {
        "prs_new": 1,
        "prs_updated": 1,
        "prs_unchanged": 1,
        "prs_stale": 0,
        "prs_deleted": 1,
        "check_runs_new": 1,
        "check_runs_updated": 1,
        "check_runs_unchanged": 0,
        "state_changes": 2,
        "field_changes": 2,
    }
    assert changeset.prs_to_upsert.column("number").to_pylist() == [1, 5]
    assert changeset.prs_to_upsert.schema.equals(PULL_REQUEST_SCHEMA)
    assert changeset.check_runs_to_upsert.column("github_id").to_pylist() == [10, 50]
    assert not changeset.is_empty


def test_apply_upserts_and_drops_deleted() -> None:
    snapshot, snapshot_runs, changeset = mixed_changeset()

    prs, runs = apply_changeset(snapshot, snapshot_runs, changeset)

    assert_tables_equal(prs, pr_table(pr_row(1, state="closed", **CLOSED), pr_row(2), pr_row(5)))
    assert_tables_equal(
        runs,
        check_run_table(
            check_run_row(1, 10, status="completed"), check_run_row(2, 20), check_run_row(5, 50)
        ),
    )


# --- conform -------------------------------------------------------------------------------------


def test_conform_casts_polars_output_to_the_arrow_schema() -> None:
    frame = pl.DataFrame(
        {"extra": [1], "number": [3], "to_state": ["open"], "from_state": [None]},
        schema_overrides={"from_state": pl.String},
    )
    schema = CHANGESET_TABLE_SCHEMAS["state_transitions"]

    assert conform(frame, schema).schema.equals(schema)


def test_conform_names_missing_columns_and_nulls() -> None:
    schema = CHANGESET_TABLE_SCHEMAS["state_transitions"]
    with pytest.raises(SchemaConformanceError, match="missing columns"):
        conform(pl.DataFrame({"number": [1]}), schema)
    with pytest.raises(SchemaConformanceError, match=r"\['to_state'\]"):
        conform(pl.DataFrame({"number": [1], "from_state": ["a"], "to_state": [None]}), schema)


def test_incoming_table_missing_a_column_fails() -> None:
    with pytest.raises(SchemaConformanceError, match="title"):
        changeset_of(pr_table(pr_row(1)).drop_columns(["title"]), pr_table())


def test_rows_to_upsert_are_sorted_by_key_whichever_side_is_empty() -> None:
    runs = pa.Table.from_pylist(
        [
            {"pr_number": 2, "github_id": 1, "head_sha": "a", "name": "n", "status": "queued"},
            {"pr_number": 1, "github_id": 9, "head_sha": "a", "name": "n", "status": "queued"},
            {"pr_number": 1, "github_id": 3, "head_sha": "a", "name": "n", "status": "queued"},
        ],
        CHECK_RUN_SCHEMA,
    )
    empty = CHECK_RUN_SCHEMA.empty_table()
    for new, updated in ((runs, empty), (empty, runs)):
        changeset = replace(empty_changeset(), check_runs_new=new, check_runs_updated=updated)
        keys = changeset.check_runs_to_upsert.select(["pr_number", "github_id"]).to_pylist()
        assert keys == [
            {"pr_number": 1, "github_id": 3},
            {"pr_number": 1, "github_id": 9},
            {"pr_number": 2, "github_id": 1},
        ]
    in_order = runs.slice(1).sort_by("github_id")  # (1, 3), (1, 9): already in key order
    ordered = replace(empty_changeset(), check_runs_new=in_order)
    assert ordered.check_runs_to_upsert.equals(in_order)
