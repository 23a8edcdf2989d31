"""The migrated warehouse against DESIGN.md's contract and the Arrow schemas."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest

from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA

Conn = psycopg.Connection[tuple[object, ...]]

CONTRACT = {
    "repositories": "id owner name full_name github_id active failure_count last_error "
    "last_attempt_at last_success_at",
    "pull_requests": "id repository_id number github_id title body state draft author_login "
    "base_ref base_sha head_ref head_sha head_repo_full_name labels assignees html_url created_at "
    "updated_at closed_at merged_at deleted_at",
    "check_runs": "id pull_request_id github_id head_sha name status conclusion app_slug "
    "details_url started_at completed_at output_title output_summary",
    "pr_state_history": "id pull_request_id from_state to_state changed_at sync_run_id",
    "sync_runs": "id repository_id mode dry_run started_at finished_at status prs_new prs_updated "
    "prs_unchanged prs_deleted check_runs_new check_runs_updated state_changes api_requests "
    "api_not_modified rate_limit_remaining error dagster_run_id",
}

ARROW_TO_SQL = {
    pa.int64(): "bigint",
    pa.large_string(): "text",
    pa.bool_(): "boolean",
    pa.timestamp("us", tz="UTC"): "timestamp with time zone",
}


def _columns(db: Conn, table: str) -> dict[str, str]:
    rows = db.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'prmon' AND table_name = %s",
        (table,),
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_every_contract_column_exists(db: Conn, table: str) -> None:
    missing = set(CONTRACT[table].split()) - set(_columns(db, table))
    assert missing == set()


@pytest.mark.parametrize(
    ("table", "schema", "renamed"),
    [
        ("pull_requests", PULL_REQUEST_SCHEMA, {}),
        ("check_runs", CHECK_RUN_SCHEMA, {"pr_number": None}),
    ],
)
def test_arrow_schema_columns_exist_with_matching_types(
    db: Conn, table: str, schema: pa.Schema, renamed: dict[str, str | None]
) -> None:
    columns = _columns(db, table)
    for field in schema:
        if field.name in renamed:
            continue  # pr_number is resolved to pull_request_id by the load
        expected = "ARRAY" if pa.types.is_large_list(field.type) else ARROW_TO_SQL[field.type]
        assert columns.get(field.name) == expected, field.name


TEXT_IDS = {"dagster_run_id", "guid"}
"""Identifiers that are not GitHub's integers: Dagster's run id and a webhook delivery's GUID."""


def test_all_timestamps_are_timestamptz_and_ids_bigint(db: Conn) -> None:
    rows = db.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'prmon' AND table_name <> 'schema_migrations'"
        " AND (column_name LIKE '%%\\_at' OR column_name LIKE '%%id')"
    ).fetchall()
    wrong = [
        (t, c, k)
        for t, c, k in rows
        if (str(c).endswith("_at") and k != "timestamp with time zone")
        or (str(c).endswith("id") and c not in TEXT_IDS and k != "bigint")
    ]
    assert rows and wrong == []
