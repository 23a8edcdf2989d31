"""GitHub's GraphQL query cost: requests, points, node count and the pagination limits.

The documented formula (https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api):
every connection needs ``first`` or ``last`` within 1-100; it costs one request per instance
of its parent, i.e. the product of the ``first``/``last`` of the connections above it; points
are requests / 100 rounded to the nearest whole number, at least 1. The node count is the sum
over connections of their own ``first``/``last`` times that product; more than 500,000 nodes
refuses the query. Worked example of the docs: ``repositories(first:100){issues(first:50)
{labels(first:60)}}`` = 1 + 100 + 5,000 = 5,101 requests = 51 points.

Fragments are counted at every spread and inline fragments as if they applied (an upper bound,
as the docs' "assume every request will reach the limit"). ``Query.nodes(ids:)`` multiplies the
connections under it by the number of ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values

MAX_NODES = 500_000
MAX_PAGE = 100
MAX_NODE_IDS = 100


@dataclass(slots=True)
class CostError:
    """A refusal found while costing: GitHub's ``type``, message, path and location."""

    type: str
    message: str
    path: list[str | int] | None = None
    line: int | None = None
    column: int | None = None

    def to_json(self) -> dict[str, Any]:
        """GitHub's error entry (``type`` first, as github.com orders it)."""
        out: dict[str, Any] = {"type": self.type}
        if self.path is not None:
            out["path"] = self.path
        if self.line is not None:
            out["locations"] = [{"line": self.line, "column": self.column}]
        out["message"] = self.message
        return out


@dataclass(slots=True)
class QueryCost:
    """What a query declares: connection requests, nodes, points, and refusals.

    ``subtree_nodes`` maps ``id(field_node)`` to the nodes declared under that field per
    instance, so the executor can charge a per-query resource budget alias by alias.
    """

    requests: int = 0
    nodes: int = 0
    errors: list[CostError] = field(default_factory=list)
    subtree_nodes: dict[int, int] = field(default_factory=dict)

    @property
    def points(self) -> int:
        """Requests / 100 rounded half up, minimum 1."""
        return max(1, math.floor(self.requests / 100 + 0.5))


def points_for_requests(requests: int) -> int:
    """The primary-limit points of a query implying ``requests`` connection requests."""
    return QueryCost(requests=requests).points


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.cost = QueryCost()

    def selections(
        self,
        parent: GraphQLObjectType | GraphQLInterfaceType,
        selection_set: SelectionSetNode,
        multiplier: int,
        path: list[str | int],
    ) -> int:
        """Walk one selection set; returns the nodes declared under it per parent instance."""
        nodes = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                nodes += self.field(parent, selection, multiplier, path)
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                condition, inner = fragment.type_condition, fragment.selection_set
            else:
                assert isinstance(selection, InlineFragmentNode)
                condition, inner = selection.type_condition, selection.selection_set
            scope = parent
            if condition is not None:
                named = self.schema.get_type(condition.name.value)
                assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
                scope = named
            nodes += self.selections(scope, inner, multiplier, path)
        return nodes

    def field(
        self,
        parent: GraphQLObjectType | GraphQLInterfaceType,
        node: FieldNode,
        multiplier: int,
        path: list[str | int],
    ) -> int:
        name = node.name.value
        if name.startswith("__") or node.selection_set is None:
            return 0
        definition = parent.fields[name]
        child = get_named_type(definition.type)
        assert isinstance(child, GraphQLObjectType | GraphQLInterfaceType)
        here = [*path, (node.alias or node.name).value]
        args = get_argument_values(definition, node, self.variables)
        page = 1
        own = 0
        if "first" in definition.args and child.name.endswith("Connection"):
            page = self.page_size(node, name, args, here)
            self.cost.requests += multiplier
            own = page
        elif name == "nodes" and parent.name == "Query":
            page = len(args["ids"])
            if page > MAX_NODE_IDS:
                self.refuse(
                    node,
                    "ARGUMENT_LIMIT",
                    f"You may not provide more than {MAX_NODE_IDS} node ids; you provided {page}.",
                    here,
                )
        inner = self.selections(child, node.selection_set, multiplier * page, here)
        per_instance = own + page * inner
        self.cost.nodes += multiplier * own
        self.cost.subtree_nodes[id(node)] = per_instance
        return per_instance

    def page_size(
        self, node: FieldNode, name: str, args: dict[str, Any], path: list[str | int]
    ) -> int:
        first: int | None = args.get("first")
        last: int | None = args.get("last")
        if first is None and last is None:
            self.refuse(
                node,
                "MISSING_PAGINATION_BOUNDARIES",
                f"You must provide a `first` or `last` value to properly paginate "
                f"the `{name}` connection.",
                path,
            )
            return 0
        for argument, value in (("first", first), ("last", last)):
            if value is None:
                continue
            if value > MAX_PAGE:
                self.refuse(
                    node,
                    "EXCESSIVE_PAGINATION",
                    f"Requesting {value} records on the `{name}` connection exceeds the "
                    f"`{argument}` limit of {MAX_PAGE} records.",
                    path,
                )
            elif value < 0:
                self.refuse(
                    node,
                    "INVALID_PAGINATION",
                    f"`{argument}` on the `{name}` connection cannot be less than zero.",
                    path,
                )
        size = first if first is not None else (last or 0)
        return max(0, min(MAX_PAGE, size))

    def refuse(self, node: FieldNode, kind: str, message: str, path: list[str | int]) -> None:
        loc = node.loc.source.get_location(node.loc.start) if node.loc and node.loc.source else None
        self.cost.errors.append(
            CostError(
                kind,
                message,
                path,
                loc.line if loc else None,
                loc.column if loc else None,
            )
        )


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> QueryCost:
    """Cost of a validated operation with coerced ``variables``; adds the node-limit refusal."""
    walker = _Walker(schema, fragments, variables)
    root = schema.query_type
    assert root is not None
    walker.selections(root, operation.selection_set, 1, [])
    cost = walker.cost
    if cost.nodes > MAX_NODES:
        cost.errors.append(
            CostError(
                "MAX_NODE_LIMIT_EXCEEDED",
                f"This query requests up to {cost.nodes:,} possible nodes which exceeds the "
                f"maximum limit of {MAX_NODES:,}.",
            )
        )
    return cost
