"""``POST /graphql``: parse, validate, cost, charge the GraphQL pool, execute, answer.

GitHub's order and shapes (GITHUB-GRAPHQL.md sections 2.1-2.4): an invalid query is HTTP 200
with ``errors`` and no ``data``; pagination and node-limit refusals likewise; a query costing
more than the points left is HTTP 200 ``RATE_LIMITED``; otherwise the cost is charged and the
query runs, per-node failures (``NOT_FOUND``) coming back as ``null`` next to the data.
Simulated faults (``HubConfig``): a query declaring more nodes than ``graphql_timeout_nodes``
times out (502/504, JSON or HTML, points still charged), and past
``graphql_resource_limit_nodes`` declared nodes the remaining aliases resolve to null with
"Resource limits for this query exceeded." (partial data).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
)
from graphql.execution.values import get_variable_values

from prmon_pipeline.fakehub import faults as fault_kinds
from prmon_pipeline.fakehub.config import HubConfig
from prmon_pipeline.fakehub.graphql_cost import CostError, QueryCost, query_cost
from prmon_pipeline.fakehub.graphql_execution import graphql_error_json, run_query
from prmon_pipeline.fakehub.graphql_resolvers import ExecutionState
from prmon_pipeline.fakehub.graphql_schema import DocumentCache, github_schema
from prmon_pipeline.fakehub.ratelimit import Bucket, PrimaryLimiter
from prmon_pipeline.fakehub.render_repository import iso
from prmon_pipeline.fakehub.responses import Result
from prmon_pipeline.fakehub.world import World

JSON = dict[str, Any]
TIMEOUT_MESSAGE = (
    "Something went wrong while executing your query. This may be the result of a timeout, "
    "or it could be a GitHub bug. Please include `{request_id}` when reporting this issue."
)
_NO_QUERY = "A query attribute must be specified and must be a string."


@dataclass(slots=True)
class Answer:
    """The HTTP result and the points charged to the caller's GraphQL pool."""

    result: Result
    points: int = 0
    rate_limited: bool = False


class _RefusedError(Exception):
    """A request answered with ``errors`` only (no ``data``), before any charge."""

    def __init__(self, errors: list[JSON], status: int = 200) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A valid query ready to charge and run."""

    document: DocumentNode
    operation: OperationDefinitionNode
    variables: JSON
    cost: QueryCost


def _operation(definitions: list[Any], name: str | None) -> OperationDefinitionNode:
    """The query operation to run (``operationName`` picks one of several)."""
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == name]
        if not operations:
            raise _RefusedError([{"message": f'Unknown operation named "{name}".'}])
    if len(operations) != 1:
        raise _RefusedError([{"message": "An operation name is required"}])
    if operations[0].operation is not OperationType.QUERY:
        raise _RefusedError([{"message": "fakehub serves queries only, not mutations."}])
    return operations[0]


def _operation_name(operation: OperationDefinitionNode) -> str | None:
    return None if operation.name is None else operation.name.value


def _is_dry_run(operation: OperationDefinitionNode, variables: JSON) -> bool:
    """Whether a top-level ``rateLimit(dryRun: true)`` asks for the cost only."""
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.name.value != "rateLimit":
            continue
        for argument in selection.arguments:
            value = argument.value
            if argument.name.value != "dryRun":
                continue
            if isinstance(value, BooleanValueNode) and value.value:
                return True
            if isinstance(value, VariableNode) and variables.get(value.name.value) is True:
                return True
    return False


class GraphQLEndpoint:
    """Answers GraphQL requests over one world with one primary limiter (pool ``graphql``)."""

    def __init__(self, world: World, config: HubConfig, primary: PrimaryLimiter) -> None:
        self.world = world
        self.config = config
        self.primary = primary
        self.documents = DocumentCache(config.graphql_document_cache_entries)
        self._serial = 0

    def respond(
        self, body: bytes, key: str | None, may_read: Callable[[str], bool] | None = None
    ) -> Answer:
        """One request body from the caller whose bucket key is ``key``; ``may_read`` limits
        the repositories it sees (an App installation's selection)."""
        try:
            prepared = self._prepare(body)
        except _RefusedError as refused:
            return Answer(Result(refused.status, orjson.dumps({"errors": refused.errors})))
        return self._charged(prepared, key, may_read)

    def _prepare(self, body: bytes) -> _Prepared:
        """Parse, validate, pick the operation, coerce variables and cost the query."""
        try:
            request = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            raise _RefusedError([{"message": "Problems parsing JSON"}], 400) from None
        query = request.get("query") if isinstance(request, dict) else None
        if not isinstance(query, str):
            raise _RefusedError([{"message": _NO_QUERY}])
        checked = self.documents.get(query)
        if checked.errors or checked.document is None:
            raise _RefusedError([graphql_error_json(e) for e in checked.errors])
        operation = _operation(list(checked.document.definitions), request.get("operationName"))
        raw_variables = request.get("variables") or {}
        if not isinstance(raw_variables, dict):
            raise _RefusedError([{"message": "Variables must be a JSON object."}])
        schema = github_schema()
        variables = get_variable_values(schema, operation.variable_definitions, raw_variables)
        if isinstance(variables, list):
            raise _RefusedError([graphql_error_json(e) for e in variables])
        fragments = {
            d.name.value: d
            for d in checked.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        cost = query_cost(schema, operation, fragments, variables)
        if cost.errors:
            raise _RefusedError([e.to_json() for e in cost.errors])
        return _Prepared(checked.document, operation, variables, cost)

    def _charged(
        self, prepared: _Prepared, key: str | None, may_read: Callable[[str], bool] | None
    ) -> Answer:
        """Charge the pool, apply the size faults, then execute."""
        cost = prepared.cost
        bucket = self.primary.bucket(key, "graphql")
        dry_run = _is_dry_run(prepared.operation, prepared.variables)
        points = 0 if dry_run else cost.points
        if points > bucket.remaining:
            who = "127.0.0.1" if key is None else f"user ID {zlib.crc32(key.encode())}"
            refusal = CostError("RATE_LIMITED", f"API rate limit exceeded for {who}.")
            body = orjson.dumps({"errors": [refusal.to_json()]})
            return Answer(Result(200, body), rate_limited=True)
        bucket.used += points
        timeout_nodes = self.config.graphql_timeout_nodes
        if timeout_nodes is not None and cost.nodes > timeout_nodes:
            return Answer(self._timeout(), points)
        state = ExecutionState(
            world=self.world,
            rate_limit=_rate_limit_json(bucket, cost),
            variables=prepared.variables,
            dry_run=dry_run,
            resource_nodes=self.config.graphql_resource_limit_nodes,
            subtree_nodes=cost.subtree_nodes,
            may_read=may_read,
        )
        with self.world.lock:
            out = run_query(prepared.document, _operation_name(prepared.operation), state)
        return Answer(Result(200, orjson.dumps(out)), points)

    def _timeout(self) -> Result:
        """GitHub's answer to a query that ran past its 10 s: JSON or an HTML error page."""
        status = self.config.graphql_timeout_status
        if self.config.graphql_timeout_html:
            _, content_type, html = fault_kinds.error_body(f"html_{status}")
            return Result(status, html, content_type=content_type)
        self._serial += 1
        request_id = f"{0x89A2 ^ self._serial & 0xFFFF:04X}:{self._serial:06X}"
        message = TIMEOUT_MESSAGE.format(request_id=request_id)
        return Result(status, orjson.dumps({"data": None, "errors": [{"message": message}]}))


def _rate_limit_json(bucket: Bucket, cost: QueryCost) -> JSON:
    """``RateLimit``: the state after this query's charge (``resetAt`` as ISO-8601)."""
    return {
        "cost": cost.points,
        "limit": bucket.limit,
        "remaining": bucket.remaining,
        "used": bucket.used,
        "resetAt": iso(bucket.reset),
        "nodeCount": cost.nodes,
    }
