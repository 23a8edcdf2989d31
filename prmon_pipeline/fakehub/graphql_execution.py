"""Executing a validated query with graphql-core, tuned for fakehub's dict sources.

Two departures from graphql-core's stock executor, both confined to
:class:`GitHubExecutionContext`: GitHub's ``Int`` carries check-run and check-suite
``databaseId`` values beyond 32 bits (GITHUB-GRAPHQL.md section 1.5) which graphql-core's
``Int`` refuses, so integers go out as they are; and argument-less leaf fields read from a
source dict skip the per-field resolve-info and argument machinery, which is most of the
time of a 400-run answer (about 5,000 leaves). Enums are still checked by their type, null in
a non-null field and every error still take the stock path.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    ExecutionContext,
    ExecutionResult,
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    execute,
)
from graphql.pyutils import Path

from prmon_pipeline.fakehub.graphql_connections import GitHubError
from prmon_pipeline.fakehub.graphql_resolvers import ExecutionState
from prmon_pipeline.fakehub.graphql_root import QUERY_ROOT
from prmon_pipeline.fakehub.graphql_schema import github_schema

JSON = dict[str, Any]
_PLAIN_SCALARS = frozenset(("String", "ID", "URI", "DateTime", "GitObjectID"))
_MISSING = object()


class GitHubExecutionContext(ExecutionContext):
    """graphql-core's executor with GitHub's 64-bit ``Int`` and a fast path for leaves."""

    @staticmethod
    def complete_leaf_value(return_type: GraphQLLeafType, result: Any) -> Any:
        kind = type(result)
        if kind is int and return_type.name == "Int":
            return result
        if kind is str and return_type.name in _PLAIN_SCALARS:
            return result
        return ExecutionContext.complete_leaf_value(return_type, result)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_nodes: list[FieldNode],
        path: Path,
    ) -> Any:
        node = field_nodes[0]
        if node.selection_set is None and not node.arguments and type(source) is dict:
            name = node.name.value
            value = source.get(name, _MISSING)
            field = parent_type.fields.get(name)
            if field is not None and value is not _MISSING and not callable(value):
                kind = field.type
                if isinstance(kind, GraphQLNonNull):
                    kind = kind.of_type
                if value is not None and isinstance(kind, GraphQLScalarType | GraphQLEnumType):
                    try:
                        return self.complete_leaf_value(kind, value)
                    except (GraphQLError, TypeError, ValueError):
                        pass  # the stock path reports it with its location and path
        return super().execute_field(parent_type, source, field_nodes, path)


def _never_awaitable(_value: Any) -> bool:
    """Every resolver here is synchronous: spares graphql-core an inspection per field."""
    return False


def graphql_error_json(error: GraphQLError) -> JSON:
    """GitHub's error entry: ``type`` (when GitHub has one), path, locations, message."""
    out: JSON = {}
    if isinstance(error.original_error, GitHubError):
        out["type"] = error.original_error.kind
    if error.path:
        out["path"] = list(error.path)
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["message"] = error.message
    return out


def run_query(document: DocumentNode, operation_name: str | None, state: ExecutionState) -> JSON:
    """``{"data": ..., "errors": [...]}`` of a validated, costed query (caller holds the lock)."""
    executed = execute(
        github_schema(),
        document,
        root_value=QUERY_ROOT,
        context_value=state,
        variable_values=state.variables,
        operation_name=operation_name,
        execution_context_class=GitHubExecutionContext,
        is_awaitable=_never_awaitable,
    )
    assert isinstance(executed, ExecutionResult)  # every resolver is synchronous
    out: JSON = {"data": executed.data}
    if executed.errors:
        out["errors"] = [graphql_error_json(e) for e in executed.errors]
    return out
