"""The query text of ``owner/*`` patterns, checked without a database (its effect: warehouse/)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest

from prmon_pipeline.core import sql_patterns, sql_registry, sql_text
from prmon_pipeline.core.pattern_plan import RegistryEntry
from prmon_pipeline.warehouse.patterns import Pattern

_PARAM = re.compile(r"%\((\w+)\)s")
STATEMENTS: dict[str, Callable[[], str]] = {
    name: getattr(sql_patterns, name)
    for name in dir(sql_patterns)
    if name.endswith("_sql") and callable(getattr(sql_patterns, name))
}


def test_every_statement_was_collected() -> None:
    assert len(STATEMENTS) >= 13


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_tables_are_quoted_and_values_are_parameters(name: str) -> None:
    text = STATEMENTS[name]()
    assert not re.search(r"(?<![\"'])\bprmon\.", text), "tables go through sql_text.qualified"
    assert "%s" not in text and "'" not in text, "named parameters only, no literals"


def test_pattern_reads_return_the_pattern_record_in_field_order() -> None:
    assert tuple(f.name for f in dataclasses.fields(Pattern)) == sql_patterns.PATTERN_COLUMNS
    columns = sql_text.column_list(sql_patterns.PATTERN_COLUMNS)
    for build in (
        sql_patterns.upsert_pattern_sql,
        sql_patterns.list_patterns_sql,
        sql_patterns.get_pattern_sql,
    ):
        assert columns in build()


def test_the_registry_read_fills_the_plans_entries_in_field_order() -> None:
    fields = tuple(f.name for f in dataclasses.fields(RegistryEntry))
    assert fields == sql_patterns.REGISTRY_ENTRY_COLUMNS
    assert sql_text.column_list(fields) in sql_patterns.registry_entries_sql()


@pytest.mark.parametrize(
    "build",
    [
        sql_patterns.registry_entries_sql,
        sql_patterns.set_activity_sql,
        sql_patterns.claim_repository_sql,
        sql_patterns.set_archived_sql,
        sql_patterns.deactivate_pattern_repositories_sql,
    ],
)
def test_registry_writes_and_reads_reach_live_rows_only(build: Callable[[], str]) -> None:
    assert sql_registry.LIVE in build()


def test_a_pattern_never_claims_or_removes_rows_added_by_name() -> None:
    assert "NOT added_explicitly" in sql_patterns.claim_repository_sql()
    assert "NOT added_explicitly" in sql_patterns.deactivate_pattern_repositories_sql()
    assert "false) RETURNING id" in sql_patterns.add_pattern_repository_sql()


def test_one_pattern_per_owner_case_insensitively() -> None:
    assert "ON CONFLICT ((lower(owner)))" in sql_patterns.upsert_pattern_sql()
    assert "lower(owner) = lower(%(owner)s)" in sql_patterns.get_pattern_sql()


def test_a_name_added_again_is_by_name_and_a_removal_says_why() -> None:
    assert "added_explicitly = true, inactive_reason = NULL" in sql_registry.add_repository_sql()
    assert set(_PARAM.findall(sql_registry.deactivate_repository_sql())) == {
        "repository_id",
        "inactive_reason",
    }
