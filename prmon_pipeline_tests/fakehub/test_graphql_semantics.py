"""GraphQL semantics beyond the main query: LATEST vs ALL, filters, cursors both ways, node ids,
dry runs, renames, the GHES path, authentication, the document cache and the schema file."""

from __future__ import annotations

import json

import httpx
import pytest

from prmon_pipeline.fakehub import World, sync_client
from prmon_pipeline.fakehub.graphql_resolvers import suite_node_id
from prmon_pipeline.fakehub.graphql_schema import SCHEMA_FILE, provenance
from prmon_pipeline.fakehub.graphql_schema_subset import subset
from prmon_pipeline.fakehub.server import argument_parser, hub_config
from prmon_pipeline_tests.fakehub.conftest import AppFactory
from prmon_pipeline_tests.fakehub.graphql_queries import JSON, main_query, main_variables, post

RUNS_OF = """query($o: String!, $n: String!, $s: GitObjectID!) {
  repository(owner: $o, name: $n) { object(oid: $s) { ... on Commit {
    checkSuites(first: 10%s) { totalCount pageInfo { hasNextPage endCursor } nodes {
      databaseId status conclusion app { slug databaseId }
      checkRuns(first: 100%s) { totalCount nodes { id databaseId name status conclusion } }
    } } } } }
}"""


def _rerun_head(world: World) -> tuple[str, str, JSON]:
    """A head SHA with a re-run (so LATEST and ALL differ) and the query variables for it."""
    name = world.repository_names()[0]
    sha = world.touch_check_runs_only(name)
    owner, repo = name.split("/")
    return name, sha, {"o": owner, "n": repo, "s": sha}


def _runs(body: JSON) -> list[JSON]:
    suites = body["data"]["repository"]["object"]["checkSuites"]["nodes"]
    return [run for suite in suites for run in suite["checkRuns"]["nodes"]]


def _rest_ids(client: httpx.Client, name: str, sha: str, query: str) -> set[int]:
    response = client.get(f"/repos/{name}/commits/{sha}/check-runs?per_page=100&{query}")
    return {r["id"] for r in response.json()["check_runs"]}


def test_latest_is_the_default_and_all_keeps_reruns(world: World, client: httpx.Client) -> None:
    name, sha, variables = _rerun_head(world)
    latest = {r["databaseId"] for r in _runs(post(client, RUNS_OF % ("", ""), variables))}
    every = post(client, RUNS_OF % ("", ", filterBy: {checkType: ALL}"), variables)
    assert latest == _rest_ids(client, name, sha, "filter=latest")
    assert {r["databaseId"] for r in _runs(every)} == _rest_ids(client, name, sha, "filter=all")
    assert len(latest) < len(_runs(every))


@pytest.mark.parametrize(
    ("run_filter", "keep"),
    [
        ("statuses: [QUEUED, IN_PROGRESS]", lambda r: r["status"] in ("QUEUED", "IN_PROGRESS")),
        ("status: COMPLETED", lambda r: r["status"] == "COMPLETED"),
        ("conclusions: [SUCCESS, SKIPPED]", lambda r: r["conclusion"] in ("SUCCESS", "SKIPPED")),
        ('checkName: "lint"', lambda r: r["name"] == "lint"),
    ],
)
def test_check_run_filters(
    world: World, client: httpx.Client, run_filter: str, keep: object
) -> None:
    _, _, variables = _rerun_head(world)
    every = _runs(post(client, RUNS_OF % ("", ", filterBy: {checkType: ALL}"), variables))
    query = RUNS_OF % ("", f", filterBy: {{checkType: ALL, {run_filter}}}")
    assert _runs(post(client, query, variables)) == [r for r in every if keep(r)]  # type: ignore[operator]


def test_check_suite_filters(world: World, client: httpx.Client) -> None:
    _, _, variables = _rerun_head(world)
    suites = post(client, RUNS_OF % ("", ""), variables)["data"]["repository"]["object"]
    app = suites["checkSuites"]["nodes"][-1]["app"]
    by_app = post(client, RUNS_OF % (f", filterBy: {{appId: {app['databaseId']}}}", ""), variables)
    found = by_app["data"]["repository"]["object"]["checkSuites"]
    assert found["totalCount"] == 1 and found["nodes"][0]["app"] == app
    by_name = post(client, RUNS_OF % (', filterBy: {checkName: "lint"}', ""), variables)
    named = by_name["data"]["repository"]["object"]["checkSuites"]["nodes"]
    expected = [
        s["databaseId"]
        for s in suites["checkSuites"]["nodes"]
        if any(r["name"] == "lint" for r in s["checkRuns"]["nodes"])
    ]
    assert [s["databaseId"] for s in named] == expected and len(expected) == 1


def test_suite_status_and_conclusion_follow_the_runs(world: World, client: httpx.Client) -> None:
    _, _, variables = _rerun_head(world)
    body = post(client, RUNS_OF % ("", ""), variables)
    for suite in body["data"]["repository"]["object"]["checkSuites"]["nodes"]:
        statuses = {r["status"] for r in suite["checkRuns"]["nodes"]}
        assert (suite["status"] == "COMPLETED") == (statuses == {"COMPLETED"})
        conclusions = {r["conclusion"] for r in suite["checkRuns"]["nodes"]}
        if suite["status"] == "COMPLETED":
            assert suite["conclusion"] in conclusions
        else:
            assert suite["conclusion"] is None


PAGE = """query($id: ID!, $first: Int, $last: Int, $after: String, $before: String) {
  node(id: $id) { ... on CheckSuite { checkRuns(first: $first, last: $last, after: $after,
    before: $before, filterBy: {checkType: ALL}) { totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { databaseId } } nodes { databaseId } } } }
}"""


def _page(client: httpx.Client, **variables: object) -> JSON:
    connection: JSON = post(client, PAGE, variables)["data"]["node"]["checkRuns"]
    assert [e["node"] for e in connection["edges"]] == connection["nodes"]
    return connection


def test_cursors_forward_and_backward(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    repo = world.find_repository(name)
    matrix = next(c for c in world.pop.commits.values() if c.matrix and c.repo is repo)
    runs = world.check_runs(name, matrix.sha)
    suite = next(r["check_suite"]["id"] for r in runs)
    expected = [r["id"] for r in runs if r["check_suite"]["id"] == suite]
    ident = suite_node_id(suite)
    seen: list[int] = []
    after = None
    while True:
        page = _page(client, id=ident, first=40, after=after)
        assert page["totalCount"] == len(expected)
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        seen += [n["databaseId"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    tail = _page(client, id=ident, last=3)
    assert [n["databaseId"] for n in tail["nodes"]] == expected[-3:]
    assert tail["pageInfo"]["hasPreviousPage"] and not tail["pageInfo"]["hasNextPage"]
    before = _page(client, id=ident, last=2, before=tail["pageInfo"]["startCursor"])
    assert [n["databaseId"] for n in before["nodes"]] == expected[-5:-3]
    bad = post(client, PAGE, {"id": ident, "first": 5, "after": "not a cursor"})
    assert bad["errors"][0]["type"] == "INVALID_CURSOR_ARGUMENTS"


def test_suites_page_by_cursor(world: World, client: httpx.Client) -> None:
    _, _, variables = _rerun_head(world)
    every = post(client, RUNS_OF % ("", ""), variables)["data"]["repository"]["object"]
    expected = [s["databaseId"] for s in every["checkSuites"]["nodes"]]
    query = RUNS_OF.replace("checkSuites(first: 10%s)", "checkSuites(first: 1, after: $c%s)")
    query = query.replace("$s: GitObjectID!)", "$s: GitObjectID!, $c: String)")
    seen, cursor = [], None
    while True:
        commit = post(client, query % ("", ""), {**variables, "c": cursor})["data"]["repository"]
        suites = commit["object"]["checkSuites"]
        seen += [s["databaseId"] for s in suites["nodes"]]
        if not suites["pageInfo"]["hasNextPage"]:
            break
        cursor = suites["pageInfo"]["endCursor"]
    assert seen == expected and len(expected) > 1


NODE = """query($id: ID!, $ids: [ID!]!) {
  node(id: $id) { __typename id ... on CheckRun { databaseId checkSuite { databaseId
    commit { oid } } } ... on Repository { nameWithOwner } ... on Commit { oid } }
  nodes(ids: $ids) { __typename id }
}"""


def test_node_ids_resolve(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    sha = world.pull_requests(name)[0]["head"]["sha"]
    run = world.check_runs(name, sha)[0]
    body = post(client, NODE, {"id": run["node_id"], "ids": [run["node_id"], "bm8=", "x"]})
    node = body["data"]["node"]
    assert (node["__typename"], node["id"], node["databaseId"]) == (
        "CheckRun",
        run["node_id"],
        run["id"],
    )
    assert node["checkSuite"] == {"databaseId": run["check_suite"]["id"], "commit": {"oid": sha}}
    assert body["data"]["nodes"] == [{"__typename": "CheckRun", "id": run["node_id"]}, None, None]
    assert [(e["type"], e["path"]) for e in body["errors"]] == [
        ("NOT_FOUND", ["nodes", 1]),
        ("NOT_FOUND", ["nodes", 2]),
    ]
    owner, repo_name = name.split("/")
    lookup = f'repository(owner: "{owner}", name: "{repo_name}")'
    repo = post(client, f'{{ {lookup} {{ id object(expression: "{sha}") {{ id }} }} }}', {})
    repo_id, commit_id = (
        repo["data"]["repository"]["id"],
        repo["data"]["repository"]["object"]["id"],
    )
    for ident, expected in ((repo_id, {"nameWithOwner": name}), (commit_id, {"oid": sha})):
        found = post(client, NODE, {"id": ident, "ids": []})["data"]["node"]
        assert {k: found[k] for k in expected} == expected
    missing = post(client, NODE, {"id": "MDg6Q2hlY2tSdW4x", "ids": []})
    assert missing["data"]["node"] is None
    (error,) = missing["errors"]
    assert (error["type"], error["path"]) == ("NOT_FOUND", ["node"])


def test_dry_run_costs_nothing(world: World, make_app: AppFactory) -> None:
    app = make_app()
    name = world.repository_names()[0]
    shas = [pr["head"]["sha"] for pr in world.pull_requests(name)[:50]]
    query = main_query([50]).replace("rateLimit {", "rateLimit(dryRun: true) {")
    with sync_client(app) as client:
        body = post(client, query, main_variables([(name, shas)]))
    assert body["data"]["rateLimit"]["cost"] == 6
    assert body["data"]["r0"] is None
    assert app.state.hub.rate_limit_remaining(None, "graphql") == 5000


def test_renamed_repository_follows_unless_asked_not_to(world: World, client: httpx.Client) -> None:
    old = world.repository_names()[0]
    world.rename_repository(old, "renamed")
    owner, repo = old.split("/")
    query = """query($o: String!, $n: String!, $f: Boolean) {
      repository(owner: $o, name: $n, followRenames: $f) { nameWithOwner } }"""
    followed = post(client, query, {"o": owner, "n": repo})
    assert followed["data"]["repository"] == {"nameWithOwner": f"{owner}/renamed"}
    refused = post(client, query, {"o": owner, "n": repo, "f": False})
    assert refused["data"]["repository"] is None and refused["errors"][0]["type"] == "NOT_FOUND"


def test_ghes_path(world: World, make_app: AppFactory) -> None:
    name = world.repository_names()[0]
    request = {"query": "{ rateLimit { cost } }"}
    with sync_client(make_app(ghes=True)) as client:
        assert client.post("http://fakehub.test/api/graphql", json=request).status_code == 200
        assert client.post("http://fakehub.test/graphql", json=request).status_code == 404
        assert client.get(f"/repos/{name}").status_code == 200
    with sync_client(make_app()) as client:
        assert client.post("/api/graphql", json=request).status_code == 404
        assert client.get("/graphql").status_code == 404


def test_credentials_and_request_errors(make_app: AppFactory) -> None:
    app = make_app(valid_tokens=frozenset({"good"}))
    with sync_client(app, headers={"Authorization": "Bearer bad"}) as client:
        assert client.post("/graphql", json={"query": "{ rateLimit { cost } }"}).status_code == 401
    with sync_client(app, headers={"Authorization": "Bearer good"}) as client:
        assert client.post("/graphql", content=b"{not json").status_code == 400
        missing = client.post("/graphql", json={"variables": {}}).json()
        assert missing == {
            "errors": [{"message": "A query attribute must be specified and must be a string."}]
        }
        two = "query A { rateLimit { cost } } query B { rateLimit { used } }"
        assert client.post("/graphql", json={"query": two}).json()["errors"]
        picked = client.post("/graphql", json={"query": two, "operationName": "B"}).json()
        assert picked["data"] == {"rateLimit": {"used": 1}}


def test_document_cache_is_bounded(make_app: AppFactory) -> None:
    app = make_app(graphql_document_cache_entries=2)
    texts = [f"{{ a{i}: rateLimit {{ cost }} }}" for i in range(3)]
    with sync_client(app) as client:
        for text in [*texts, texts[2], texts[2]]:
            assert client.post("/graphql", json={"query": text}).status_code == 200
    documents = app.state.hub.graphql.documents
    assert len(documents.documents) == 2
    assert (documents.misses, documents.hits) == (3, 2)


def test_schema_subset_is_closed_and_records_its_source() -> None:
    vendored = json.loads(SCHEMA_FILE.read_text())
    assert subset(vendored["__schema"]) == vendored["__schema"]
    assert provenance()["package"] == "@octokit/graphql-schema"
    assert provenance()["version"] == "15.26.1"
    assert len(provenance()["sha256"]) == 64


def test_command_line_sizes_the_graphql_pool() -> None:
    parse = argument_parser().parse_args
    assert hub_config(parse(["--rate-limit", "900"])).graphql_rate_limit is None  # = rate_limit
    config = hub_config(parse(["--rate-limit", "900", "--graphql-rate-limit", "70"]))
    assert (config.rate_limit, config.graphql_rate_limit) == (900, 70)
