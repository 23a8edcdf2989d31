"""fakehub's GraphQL endpoint: the contract's queries return what REST ``filter=all`` returns,
cost and pool follow GitHub's model, errors come in GitHub's shapes."""

from __future__ import annotations

import httpx
import pytest

from prmon_pipeline.fakehub import World, sync_client
from prmon_pipeline.fakehub.model import Commit
from prmon_pipeline_tests.fakehub.conftest import AppFactory
from prmon_pipeline_tests.fakehub.graphql_queries import (
    assert_valid_response,
    main_query,
    main_variables,
    post,
    rest_as_graphql,
    runs_by_graphql,
    runs_by_rest,
)

UNKNOWN_SHA = "0" * 40


def _commits(world: World, full_name: str) -> list[Commit]:
    repo = world.find_repository(full_name)
    return [c for c in world.pop.commits.values() if c.repo is repo]


def _mixed_shas(world: World, full_name: str) -> list[str]:
    """Head SHAs of the first PRs, a matrix commit (>100 runs), a commit whose runs nobody
    asked for yet (GraphQL materialises them first), and one without checks (last)."""
    commits = _commits(world, full_name)
    matrix = next(c.sha for c in commits if c.matrix)
    lazy = next(c.sha for c in commits if c.runs is None and c.planned_runs > 0)
    empty = next(c.sha for c in commits if c.planned_runs == 0)
    heads = [pr["head"]["sha"] for pr in world.pull_requests(full_name)[:20]]
    return [*dict.fromkeys([*heads, matrix, lazy, empty])]


def test_main_and_follow_up_queries_match_rest(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    shas = _mixed_shas(world, name)
    world.advance(3600)  # some runs in progress, some re-runs queued: all must agree
    world.rerun_check_run(name, shas[0])
    assert world.pop.commits[shas[-2]].runs is None  # GraphQL is the first to ask
    by_graphql = runs_by_graphql(client, name, shas)
    assert set(by_graphql) == set(shas)
    matrix_runs = 0
    for sha in shas:
        rest = [rest_as_graphql(r) for r in runs_by_rest(client, name, sha)]
        assert sorted(by_graphql[sha], key=lambda r: r["databaseId"]) == sorted(
            rest, key=lambda r: r["databaseId"]
        )
        matrix_runs = max(matrix_runs, len(rest))
    assert matrix_runs > 100  # the follow-up pages were needed and followed
    assert by_graphql[shas[-1]] == []  # a commit without checks: checkSuites.nodes == []


def test_gzip_when_accepted(world: World, client: httpx.Client) -> None:
    request = {"query": "{ rateLimit { cost } }"}
    zipped = client.post("/graphql", json=request)
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == {"data": {"rateLimit": {"cost": 1}}}
    plain = client.post("/graphql", json=request, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == zipped.json()


def test_order_suites_ascending_runs_newest_first(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    shas = _mixed_shas(world, name)[:5]
    body = post(client, main_query([len(shas)]), main_variables([(name, shas)]))
    for h in range(len(shas)):
        suites = body["data"]["r0"][f"h{h}"]["checkSuites"]["nodes"]
        suite_ids = [s["databaseId"] for s in suites]
        assert suite_ids == sorted(suite_ids)
        for suite in suites:
            run_ids = [r["databaseId"] for r in suite["checkRuns"]["nodes"]]
            assert run_ids == sorted(run_ids, reverse=True)


def test_ids_beyond_32_bits_are_json_integers(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    sha = world.pull_requests(name)[0]["head"]["sha"]
    response = client.post(
        "/graphql", json={"query": main_query([1]), "variables": main_variables([(name, [sha])])}
    )
    suite = response.json()["data"]["r0"]["h0"]["checkSuites"]["nodes"][0]
    run_id = suite["checkRuns"]["nodes"][0]["databaseId"]
    assert isinstance(run_id, int) and run_id > 2**31 and suite["databaseId"] > 2**31
    assert f'"databaseId":{run_id}' in response.text


def test_cost_and_separate_pool(world: World, make_app: AppFactory) -> None:
    app = make_app(rate_limit=100, graphql_rate_limit=20)
    name = world.repository_names()[0]
    shas = [pr["head"]["sha"] for pr in world.pull_requests(name)[:50]]
    with sync_client(app, headers={"Authorization": "Bearer t1"}) as client:
        response = client.post(
            "/graphql",
            json={"query": main_query([50]), "variables": main_variables([(name, shas)])},
        )
        rate = response.json()["data"]["rateLimit"]
        # 50 x (checkSuites 1 + checkRuns 10) = 550 requests -> 6 points; nodes 50 x 10 x 101
        assert rate["cost"] == 6 and rate["nodeCount"] == 50_500
        assert (rate["limit"], rate["used"], rate["remaining"]) == (20, 6, 14)
        assert rate["resetAt"].endswith("Z") and "T" in rate["resetAt"]
        assert response.headers["x-ratelimit-resource"] == "graphql"
        assert response.headers["x-ratelimit-remaining"] == "14"
        rest = client.get(f"/repos/{name}")
        assert rest.headers["x-ratelimit-resource"] == "core"
        assert rest.headers["x-ratelimit-remaining"] == "99"  # GraphQL spent no REST unit
        overview = client.get("/rate_limit").json()["resources"]
        assert overview["graphql"]["used"] == 6 and overview["core"]["used"] == 1
    hub = app.state.hub
    assert hub.rate_limit_remaining("t1", "graphql") == 14
    assert (hub.counters.graphql_queries, hub.counters.graphql_points) == (1, 6)


def test_oid_takes_shas_of_this_repository_only(world: World, client: httpx.Client) -> None:
    first, second = world.repository_names()[:2]
    repo = world.find_repository(first)
    assert repo is not None
    pr = next(p for p in repo.pulls.values() if p.state == "open" and not p.is_fork)
    other_sha = world.pull_requests(second)[0]["head"]["sha"]
    query = """query($o: String!, $n: String!, $a: GitObjectID!, $b: GitObjectID!, $e: String!) {
      repository(owner: $o, name: $n) { a: object(oid: $a) { oid } b: object(oid: $b) { oid }
        e: object(expression: $e) { oid } } }"""
    owner, name = first.split("/")
    variables = {"o": owner, "n": name, "a": pr.head_ref, "b": other_sha, "e": pr.head_ref}
    found = post(client, query, variables)["data"]["repository"]
    assert found == {"a": None, "b": None, "e": {"oid": pr.head_sha}}


def test_unknown_sha_is_null_unknown_repository_not_found(
    world: World, client: httpx.Client
) -> None:
    name = world.repository_names()[0]
    body = post(
        client,
        main_query([1, 1]),
        main_variables([(name, [UNKNOWN_SHA]), ("acme/no-such-repo", [UNKNOWN_SHA])]),
    )
    assert body["data"]["r0"]["h0"] is None
    assert body["data"]["r1"] is None
    (error,) = body["errors"]
    assert error["type"] == "NOT_FOUND" and error["path"] == ["r1"]
    assert (
        error["message"] == "Could not resolve to a Repository with the name 'acme/no-such-repo'."
    )
    assert error["locations"][0]["line"] > 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            '{ repository(owner: "a", name: "b") { object(oid: "x") { ... on Commit {'
            " checkSuites(first: 101) { totalCount } } } } }",
            "Requesting 101 records on the `checkSuites` connection exceeds the `first` limit "
            "of 100 records.",
        ),
        (
            '{ repository(owner: "a", name: "b") { object(oid: "x") { ... on Commit {'
            " checkSuites { totalCount } } } } }",
            "You must provide a `first` or `last` value to properly paginate the `checkSuites` "
            "connection.",
        ),
    ],
)
def test_pagination_limits(client: httpx.Client, query: str, message: str) -> None:
    body = post(client, query, {})
    assert "data" not in body
    assert [e["message"] for e in body["errors"]] == [message]


def test_invalid_query_error_shape(client: httpx.Client) -> None:
    body = post(client, '{ repository(owner: "a", name: "b") { stargazerCount } }', {})
    assert "data" not in body
    (error,) = body["errors"]
    assert "stargazerCount" in error["message"]
    assert error["locations"] == [{"line": 1, "column": 39}]
    syntax = post(client, "{ repository(", {})
    assert "data" not in syntax and syntax["errors"][0]["message"].startswith("Syntax Error")


@pytest.mark.parametrize(
    ("field", "value"), [("status", "completed"), ("name", None), ("databaseId", "1")]
)
def test_response_check_catches_non_conforming_data(
    world: World, client: httpx.Client, field: str, value: object
) -> None:
    """The schema check every test's ``post`` applies can fail (lower-case enum, null in a
    non-null field, a string for an Int)."""
    name = world.repository_names()[0]
    sha = world.pull_requests(name)[0]["head"]["sha"]
    query, variables = main_query([1]), main_variables([(name, [sha])])
    data = post(client, query, variables)["data"]
    data["r0"]["h0"]["checkSuites"]["nodes"][0]["checkRuns"]["nodes"][0][field] = value
    with pytest.raises(AssertionError):
        assert_valid_response(query, variables, data)


# The contract's main query, verbatim (notes/graphql-contract.md, shared by server and client).
CONTRACT_MAIN = """query CheckRunsByHead($o0: String!, $n0: String!, $s0_0: GitObjectID!, $s0_1: GitObjectID!, $o1: String!, $n1: String!, $s1_0: GitObjectID!) {
  rateLimit { cost limit remaining resetAt nodeCount used }
  r0: repository(owner: $o0, name: $n0) {
    databaseId
    h0: object(oid: $s0_0) { ...HeadChecks }
    h1: object(oid: $s0_1) { ...HeadChecks }
  }
  r1: repository(owner: $o1, name: $n1) {
    databaseId
    h0: object(oid: $s1_0) { ...HeadChecks }
  }
}
fragment HeadChecks on Commit {
  oid
  checkSuites(first: 10) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      databaseId
      app { slug }
      checkRuns(first: 100, filterBy: {checkType: ALL}) {
        pageInfo { hasNextPage endCursor }
        nodes {
          databaseId name status conclusion startedAt completedAt detailsUrl title summary
        }
      }
    }
  }
}"""  # noqa: E501


def test_contract_text_verbatim(world: World, client: httpx.Client) -> None:
    first, second = world.repository_names()[:2]
    heads = [pr["head"]["sha"] for pr in world.pull_requests(first)[:2]]
    other = world.pull_requests(second)[0]["head"]["sha"]
    variables = main_variables([(first, heads), (second, [other])])
    body = post(client, CONTRACT_MAIN, variables)
    assert "errors" not in body
    assert body["data"]["rateLimit"]["cost"] == 1  # 3 x (1 + 10) = 33 requests
    assert body["data"]["rateLimit"]["nodeCount"] == 3 * 1010
    assert body["data"]["r1"]["h0"]["oid"] == other
    assert body["data"]["r0"]["databaseId"] == world.repository(first)["id"]
