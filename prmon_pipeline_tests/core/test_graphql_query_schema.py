"""Every query text the GraphQL reader generates validates against GitHub's schema.

The schema is the introspection subset vendored with fakehub (``fakehub/graphql_schema.json``,
cut from npm ``@octokit/graphql-schema`` 15.26.1, provenance inside the file). A subset can only
accept fewer documents than the full schema, so a query valid here is valid on GitHub.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_client_schema, parse, validate

import prmon_pipeline
from prmon_pipeline.core.graphql_queries import HeadKey, RunsPage, SuitesPage, WorkItem, build_query

SCHEMA_FILE = Path(prmon_pipeline.__file__).parent / "fakehub" / "graphql_schema.json"
HEAD = HeadKey("o/r", "a" * 40)
SHAPES: dict[str, list[WorkItem]] = {
    "one head": [HEAD],
    "heads of two repositories": [HEAD, HeadKey("o/r", "b" * 40), HeadKey("x/y", "c" * 40)],
    "suites page": [SuitesPage(HEAD, "Y3Vyc29y")],
    "runs pages": [RunsPage(HEAD, "U1", "app", "Y3Vyc29y"), RunsPage(HEAD, "U2", None, "eA==")],
    "everything mixed": [
        HeadKey("x/y", "c" * 40),
        RunsPage(HEAD, "U1", "app", "Y3Vyc29y"),
        SuitesPage(HEAD, "Y3Vyc29y"),
        HEAD,
    ],
    "fifty heads": [HeadKey(f"o/r{i % 3}", f"{i:040x}") for i in range(50)],
}


@functools.cache
def github_schema() -> GraphQLSchema:
    data = json.loads(SCHEMA_FILE.read_text())
    assert data["provenance"]["package"] == "@octokit/graphql-schema"
    return build_client_schema(data)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_generated_query_is_valid_against_githubs_schema(shape: str) -> None:
    query = build_query(SHAPES[shape])
    assert validate(github_schema(), parse(query.text)) == []
    declared = {
        v.variable.name.value for v in parse(query.text).definitions[0].variable_definitions
    }  # type: ignore[attr-defined]
    assert declared == set(query.variables)


def test_the_schema_check_catches_an_invalid_query() -> None:
    """The check can fail: a field GitHub's CheckRun does not have is reported."""
    text = build_query([HEAD]).text.replace("detailsUrl", "detailsURL")
    errors = validate(github_schema(), parse(text))
    assert errors and "detailsURL" in errors[0].message
