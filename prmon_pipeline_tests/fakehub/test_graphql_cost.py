"""GitHub's cost formula on the docs' worked example, node limits and pagination bounds."""

from __future__ import annotations

import httpx
import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, build_schema, parse

from prmon_pipeline.fakehub import World
from prmon_pipeline.fakehub.graphql_cost import points_for_requests, query_cost
from prmon_pipeline_tests.fakehub.graphql_queries import post

# The shape of the docs' example (repositories > issues > labels), with GitHub's argument names.
DOCS_SCHEMA = build_schema(
    """
    type Query { viewer: User }
    type User { repositories(first: Int, last: Int, after: String): RepositoryConnection }
    type RepositoryConnection { nodes: [Repository] totalCount: Int }
    type Repository { name: String issues(first: Int, last: Int): IssueConnection }
    type IssueConnection { nodes: [Issue] }
    type Issue { title: String labels(first: Int, last: Int): LabelConnection }
    type LabelConnection { nodes: [Label] }
    type Label { name: String }
    """
)
DOCS_EXAMPLE = """
query {
  viewer {
    repositories(first: 100) {
      nodes { name issues(first: 50) { nodes { title labels(first: 60) { nodes { name } } } } }
    }
  }
}"""


def _cost_of(text: str, variables: dict[str, object] | None = None) -> tuple[int, int, int]:
    document = parse(text)
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    cost = query_cost(DOCS_SCHEMA, operation, fragments, variables or {})
    return cost.requests, cost.points, cost.nodes


def test_docs_worked_example() -> None:
    # "1 + 100 + 5,000 = 5,101 requests ... 51 points"; nodes 100 + 5,000 + 300,000
    assert _cost_of(DOCS_EXAMPLE) == (5_101, 51, 305_100)


def test_fragments_variables_and_last_count_like_inline_fields() -> None:
    text = """
    query($n: Int) { viewer { repositories(last: $n) { nodes { ...Issues } } } }
    fragment Issues on Repository {
      issues(first: 50) { nodes { labels(first: 60) { nodes { name } } } }
    }
    """
    assert _cost_of(text, {"n": 100}) == (5_101, 51, 305_100)


@pytest.mark.parametrize(
    ("requests", "points"), [(0, 1), (1, 1), (149, 1), (150, 2), (250, 3), (550, 6), (1_100, 11)]
)
def test_points_round_half_up_minimum_one(requests: int, points: int) -> None:
    assert points_for_requests(requests) == points


# The docs' example again, on the served subset: suites(100) > runs(50) > suite > runs(60).
SUBSET_EXAMPLE = """
query($o: String!, $n: String!, $s: GitObjectID!) {
  rateLimit { cost nodeCount }
  repository(owner: $o, name: $n) { object(oid: $s) { ... on Commit {
    checkSuites(first: 100) { nodes { checkRuns(first: 50) { nodes {
      checkSuite { checkRuns(first: %d) { totalCount } } } } } } } } }
}"""


def _subset_variables(world: World) -> dict[str, str]:
    name = world.repository_names()[0]
    owner, repo = name.split("/")
    return {"o": owner, "n": repo, "s": world.pull_requests(name)[0]["head"]["sha"]}


def test_worked_example_through_the_endpoint(world: World, client: httpx.Client) -> None:
    body = post(client, SUBSET_EXAMPLE % 60, _subset_variables(world))
    assert "errors" not in body
    assert body["data"]["rateLimit"] == {"cost": 51, "nodeCount": 305_100}


def test_node_limit(world: World, client: httpx.Client) -> None:
    query = SUBSET_EXAMPLE.replace("first: 50", "first: 100") % 100
    body = post(client, query, _subset_variables(world))
    assert "data" not in body
    (error,) = body["errors"]
    assert error["type"] == "MAX_NODE_LIMIT_EXCEEDED"
    assert error["message"] == (
        "This query requests up to 1,010,100 possible nodes which exceeds the maximum limit "
        "of 500,000."
    )


def test_nodes_takes_at_most_100_ids(client: httpx.Client) -> None:
    ids = ", ".join(f'"id{i}"' for i in range(101))
    body = post(client, f"{{ nodes(ids: [{ids}]) {{ id }} }}", {})
    (error,) = body["errors"]
    assert error["type"] == "ARGUMENT_LIMIT"
    assert error["message"] == "You may not provide more than 100 node ids; you provided 101."


def test_first_over_100_by_variable(client: httpx.Client) -> None:
    query = """query($f: Int) { repository(owner: "a", name: "b") { object(oid: "x") {
      ... on Commit { checkSuites(first: 10) { nodes {
        checkRuns(first: $f) { totalCount } } } } } } }"""
    body = post(client, query, {"f": 250})
    (error,) = body["errors"]
    assert error["type"] == "EXCESSIVE_PAGINATION"
    assert error["path"] == ["repository", "object", "checkSuites", "nodes", "checkRuns"]
    assert error["message"] == (
        "Requesting 250 records on the `checkRuns` connection exceeds the `first` limit of 100 "
        "records."
    )
