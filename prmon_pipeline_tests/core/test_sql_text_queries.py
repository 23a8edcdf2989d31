"""The warehouse's query text (registry, reports, snapshot reads), checked without a database.

dlt's habit (``../shared/STYLE.md``): SQL is generated text, so its shape is unit-tested here and
its effect once on real PostgreSQL (``prmon_pipeline_tests/warehouse``). Select lists are held
against the Arrow schemas and the records they fill.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Callable

import pytest

from prmon_pipeline.core import sql_registry, sql_reports, sql_snapshot, sql_text
from prmon_pipeline.core.schemas import (
    CHECK_RUN_SCHEMA,
    CHECK_RUN_STATUSES,
    PR_STATES,
    PULL_REQUEST_SCHEMA,
)
from prmon_pipeline.core.sql_snapshot import PULL_REQUEST_INDEX_SCHEMA
from prmon_pipeline.warehouse.repositories import Repository
from prmon_pipeline.warehouse.status import RepositoryStatus, SyncRunFigures

_ALIASED = re.compile(r' AS "([a-z_]+)"')
_PARAM = re.compile(r"%\((\w+)\)s")


def _statements() -> dict[str, str]:
    """Every statement of the three modules, by a readable name."""
    found: dict[str, str] = {}
    for module in (sql_registry, sql_reports, sql_snapshot):
        for name in dir(module):
            function = getattr(module, name)
            defined_here = getattr(function, "__module__", None) == module.__name__
            if not (name.endswith("_sql") and callable(function) and defined_here):
                continue
            if name == "delete_repository_state_sql":
                for table in sql_registry.REPOSITORY_STATE_TABLES:
                    found[f"{name}({table})"] = function(table)
            elif name in (
                "snapshot_pull_requests_sql",
                "snapshot_check_runs_sql",
                "snapshot_pull_request_digests_sql",
                "snapshot_check_run_digests_sql",
            ):
                for staged in (False, True):
                    found[f"{name}({staged})"] = function(numbers_staged=staged)
            elif name == "list_repositories_sql":
                found[name] = function(include_inactive=True)
            else:
                text = function()
                for key, value in text.items() if isinstance(text, dict) else [("", text)]:
                    found[f"{module.__name__}.{name}{key and '.' + key}"] = value
    return found


STATEMENTS = _statements()


def test_every_module_statement_was_collected() -> None:
    assert len(STATEMENTS) >= 30


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_tables_are_quoted_and_values_are_parameters(name: str) -> None:
    text = STATEMENTS[name]
    assert not re.search(r"(?<![\"'])\bprmon\.", text), "tables go through sql_text.qualified"
    assert "%s" not in text, "named parameters only"
    literals = re.findall(r"'([^']*)'", text)
    allowed = {
        *PR_STATES,
        *CHECK_RUN_STATUSES,
        *sql_reports.FAILING_CONCLUSIONS,
        *sql_snapshot.PACKED_DIGEST_LITERALS,
    }
    assert set(literals) <= allowed, "the only literals are the schema's own constants"


def test_registry_reads_return_the_repository_record_in_field_order() -> None:
    fields = tuple(field.name for field in dataclasses.fields(Repository))
    assert fields == sql_registry.REPOSITORY_COLUMNS
    expected = sql_text.column_list(sql_registry.REPOSITORY_COLUMNS)
    for statement in (
        sql_registry.add_repository_sql(),
        sql_registry.get_repository_sql(),
        sql_registry.list_repositories_sql(),
        sql_registry.insert_replacement_sql(),
    ):
        assert expected in statement


@pytest.mark.parametrize(
    "build",
    [
        sql_registry.get_repository_sql,
        sql_registry.rename_repository_sql,
        sql_registry.set_github_id_sql,
        sql_registry.lock_registry_row_sql,
        sql_registry.retire_repository_sql,
        sql_registry.live_holder_of_github_id_sql,
        sql_reports.status_sql,
        sql_reports.repositories_with_pending_checks_sql,
        sql_registry.list_repositories_sql,
        lambda: sql_registry.list_repositories_sql(include_inactive=True),
    ],
)
def test_lookups_by_name_and_listings_see_live_rows_only(build: Callable[[], str]) -> None:
    assert sql_registry.LIVE in build()


def test_listing_with_retired_rows_has_no_live_filter_and_orders_them_after() -> None:
    text = sql_registry.list_repositories_sql(include_retired=True)
    assert sql_registry.LIVE not in text and "WHERE" not in text
    assert text.endswith("ORDER BY full_name, retired_at DESC NULLS FIRST, id")


def test_add_infers_the_partial_unique_index() -> None:
    assert (
        "ON CONFLICT ((lower(full_name))) WHERE retired_at IS NULL DO UPDATE SET active = true"
        in sql_registry.add_repository_sql()
    )


def test_only_sync_state_tables_can_be_cleared() -> None:
    assert sql_registry.delete_repository_state_sql("check_run_failures") == (
        'DELETE FROM "prmon"."check_run_failures" WHERE repository_id = %(repository_id)s'
    )
    with pytest.raises(ValueError, match="not a sync-state table"):
        sql_registry.delete_repository_state_sql("pull_requests")
    assert sql_registry.optional_state_tables() == {
        '"prmon"."check_run_failures"': "check_run_failures"
    }


def test_replacement_statements_take_the_parameters_replace_repository_binds() -> None:
    bound = {"repository_id", "now", "reason", "pull_request_reason"}
    for build in (
        sql_registry.lock_registry_row_sql,
        sql_registry.retire_pull_requests_sql,
        sql_registry.retire_repository_sql,
    ):
        assert set(_PARAM.findall(build())) <= bound
    assert set(_PARAM.findall(sql_registry.insert_replacement_sql())) == {
        "owner",
        "name",
        "full_name",
        "github_id",
        "repository_id",  # the old row, whose origin (pattern or name) the new one inherits
    }


@pytest.mark.parametrize(
    ("select", "record"),
    [(sql_reports.STATUS_SELECT, RepositoryStatus), (sql_reports.SYNC_RUN_SELECT, SyncRunFigures)],
)
def test_report_select_lists_fill_their_records_in_field_order(
    select: sql_reports.Select, record: type
) -> None:
    assert [name for name, _ in select] == [field.name for field in dataclasses.fields(record)]
    assert _ALIASED.findall(sql_reports.select_list(select)) == [name for name, _ in select]


def test_status_names_the_latest_retired_row_of_the_same_name() -> None:
    text = sql_reports.status_sql()
    assert "lower(o.full_name) = lower(r.full_name) AND o.retired_at IS NOT NULL" in text
    assert "ORDER BY o.retired_at DESC, o.id DESC LIMIT 1" in text
    assert set(_PARAM.findall(text)) == {"include_inactive"}


def test_report_constants_are_refused_if_not_plain_words() -> None:
    with pytest.raises(ValueError, match="not a plain constant"):
        sql_reports._text_list(("x'); DROP TABLE t; --",))


@pytest.mark.parametrize(
    "queries",
    [sql_reports.integrity_sql(), sql_reports.duplicate_keys_sql()],
    ids=["rules", "keys"],
)
def test_per_repository_checks_take_the_repository_id_only(queries: dict[str, str]) -> None:
    for text in queries.values():
        assert text.startswith("SELECT count(*) FROM")
        assert set(_PARAM.findall(text)) == {"repository_id"}


def _template_fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


@pytest.mark.parametrize(
    ("template", "schema"),
    [
        (sql_snapshot.pull_request_index_sql(), PULL_REQUEST_INDEX_SCHEMA),
        (sql_snapshot.snapshot_pull_requests_sql(numbers_staged=True), PULL_REQUEST_SCHEMA),
        (sql_snapshot.snapshot_check_runs_sql(numbers_staged=True), CHECK_RUN_SCHEMA),
    ],
    ids=["index", "pull_requests", "check_runs"],
)
def test_snapshot_reads_select_their_arrow_schema_in_order(template: str, schema: object) -> None:
    assert _ALIASED.findall(template) == list(schema.names)  # type: ignore[attr-defined]
    # COPY: the id and the wanted numbers are sql.Literal
    assert "repository" in _template_fields(template) <= {"repository", "numbers"}
    assert "%(" not in template


def test_snapshot_reads_filter_on_staged_numbers_only_when_asked() -> None:
    staged = sql_snapshot.snapshot_check_runs_sql(numbers_staged=True)
    whole = sql_snapshot.snapshot_check_runs_sql(numbers_staged=False)
    assert "p.number = ANY({numbers}::int8[])" in staged
    assert _template_fields(whole) == {"repository"}
    assert "deleted_at IS NULL" in whole and "deleted_at IS NULL" in staged
    assert _template_fields(sql_snapshot.copy_to_csv_sql()) == {"query"}


def test_key_arrays_are_integer_literals() -> None:
    assert sql_snapshot.int8_array_text([3, 1, -2]) == "{3,1,-2}"
    assert sql_snapshot.int8_array_text([]) == "{}"
    by_key = sql_snapshot.snapshot_check_runs_by_key_sql()
    assert _template_fields(by_key) == {"repository", "pr_numbers", "github_ids"}


def test_a_merge_undoes_a_soft_delete_and_its_reason() -> None:
    assert "deleted_at = NULL, deleted_reason = NULL" in sql_text.merge_pull_requests_sql()
