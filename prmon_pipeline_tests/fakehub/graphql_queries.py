"""The contract's GraphQL queries (main batch by head SHA, follow-up pages) and a reader that
follows every cursor, so tests compare complete GraphQL answers with REST ``filter=all``."""

from __future__ import annotations

from typing import Any

import httpx
from graphql import ExecutionContext, ExecutionResult, GraphQLLeafType, execute, parse

from prmon_pipeline.fakehub.graphql_schema import github_schema

JSON = dict[str, Any]

RUN_FIELDS = "databaseId name status conclusion startedAt completedAt detailsUrl title summary"
SUITE_BODY = f"""
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id
      databaseId
      app {{ slug }}
      checkRuns(first: 100, filterBy: {{checkType: ALL}}) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {RUN_FIELDS} }}
      }}
    }}"""
HEAD_CHECKS = f"""
fragment HeadChecks on Commit {{
  oid
  checkSuites(first: 10) {{{SUITE_BODY}
  }}
}}"""


def main_query(shape: list[int]) -> str:
    """``CheckRunsByHead``: ``shape[i]`` head SHAs of repository ``i``, one alias each."""
    declared = ["rateLimit { cost limit remaining resetAt nodeCount used }"]
    variables = []
    for r, count in enumerate(shape):
        variables += [f"$o{r}: String!", f"$n{r}: String!"]
        heads = []
        for h in range(count):
            variables.append(f"$s{r}_{h}: GitObjectID!")
            heads.append(f"    h{h}: object(oid: $s{r}_{h}) {{ ...HeadChecks }}")
        body = "\n".join(heads)
        declared.append(
            f"r{r}: repository(owner: $o{r}, name: $n{r}) {{\n    databaseId\n{body}\n  }}"
        )
    joined = "\n  ".join(declared)
    return f"query CheckRunsByHead({', '.join(variables)}) {{\n  {joined}\n}}\n{HEAD_CHECKS}"


def main_variables(batch: list[tuple[str, list[str]]]) -> JSON:
    """Variables of :func:`main_query` for ``[(owner/name, [sha, ...]), ...]``."""
    out: JSON = {}
    for r, (full_name, shas) in enumerate(batch):
        out[f"o{r}"], out[f"n{r}"] = full_name.split("/")
        for h, sha in enumerate(shas):
            out[f"s{r}_{h}"] = sha
    return out


def more_runs_query(count: int) -> str:
    """Follow-up: more runs of ``count`` suites, one inline alias per cursor."""
    variables = ", ".join(f"$id{i}: ID!, $a{i}: String" for i in range(count))
    aliases = "\n".join(
        f"  s{i}: node(id: $id{i}) {{ ... on CheckSuite {{ id databaseId app {{ slug }}\n"
        f"    checkRuns(first: 100, after: $a{i}, filterBy: {{checkType: ALL}}) {{\n"
        f"      pageInfo {{ hasNextPage endCursor }} nodes {{ {RUN_FIELDS} }} }} }} }}"
        for i in range(count)
    )
    return f"query MoreRuns({variables}) {{\n  rateLimit {{ cost remaining }}\n{aliases}\n}}"


def more_suites_query() -> str:
    """Follow-up: more suites of one commit after a cursor."""
    return (
        "query MoreSuites($o0: String!, $n0: String!, $s0_0: GitObjectID!, $c0: String) {\n"
        "  r0: repository(owner: $o0, name: $n0) {\n"
        "    h0: object(oid: $s0_0) { ... on Commit { oid\n"
        f"      checkSuites(first: 10, after: $c0) {{{SUITE_BODY} }} }} }}\n  }}\n}}"
    )


class _ResponseCheck(ExecutionContext):
    """Stock leaf checks, except that ``Int`` may hold 64 bits as GitHub's ``databaseId`` does."""

    @staticmethod
    def complete_leaf_value(return_type: GraphQLLeafType, result: Any) -> Any:
        if return_type.name == "Int" and type(result) is int and abs(result) < 2**63:
            return result
        return ExecutionContext.complete_leaf_value(return_type, result)


def _typename(value: JSON, info: Any, _abstract: Any) -> str:
    guess = {"object": "Commit", "node": "CheckSuite", "nodes": "CheckSuite"}
    return str(value.get("__typename") or guess[info.field_name])


def assert_valid_response(query: str, variables: JSON, data: JSON) -> None:
    """``data`` conforms to the schema for ``query``: re-executed over itself with
    graphql-core's stock type checks (enum values, nullability, lists, leaf types), it comes
    back unchanged and without errors."""
    result = execute(
        github_schema(),
        parse(query),
        root_value=data,
        variable_values=variables,
        field_resolver=lambda source, info, **_: source.get(info.path.key),
        type_resolver=_typename,
        execution_context_class=_ResponseCheck,
    )
    assert isinstance(result, ExecutionResult)
    assert result.errors is None, result.errors
    assert result.data == data


def post(client: httpx.Client, query: str, variables: JSON) -> JSON:
    """POST one query; asserts HTTP 200, checks ``data`` against the schema, returns the body."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: JSON = response.json()
    if body.get("data") is not None:
        assert_valid_response(query, variables, body["data"])
    return body


def _suite_runs(suite: JSON) -> list[JSON]:
    return [
        {**run, "app": suite["app"]["slug"], "suite": suite["databaseId"]}
        for run in suite["checkRuns"]["nodes"]
    ]


def runs_by_graphql(client: httpx.Client, full_name: str, shas: list[str]) -> dict[str, list[JSON]]:
    """Every run of every SHA through the main query and all follow-up pages."""
    body = post(client, main_query([len(shas)]), main_variables([(full_name, shas)]))
    assert "errors" not in body, body["errors"]
    out: dict[str, list[JSON]] = {}
    pending_runs: list[tuple[str, str, str]] = []  # (sha, suite node id, cursor)
    for h, sha in enumerate(shas):
        head = body["data"]["r0"][f"h{h}"]
        if head is None:
            continue
        runs = out.setdefault(sha, [])
        suites = head["checkSuites"]
        cursor = suites["pageInfo"]["endCursor"] if suites["pageInfo"]["hasNextPage"] else None
        while True:
            for suite in suites["nodes"]:
                runs.extend(_suite_runs(suite))
                page = suite["checkRuns"]["pageInfo"]
                if page["hasNextPage"]:
                    pending_runs.append((sha, suite["id"], page["endCursor"]))
            if cursor is None:
                break
            more = post(
                client, more_suites_query(), {**main_variables([(full_name, [sha])]), "c0": cursor}
            )
            suites = more["data"]["r0"]["h0"]["checkSuites"]
            cursor = suites["pageInfo"]["endCursor"] if suites["pageInfo"]["hasNextPage"] else None
    while pending_runs:
        variables: JSON = {}
        for i, (_, suite_id, cursor) in enumerate(pending_runs):
            variables[f"id{i}"], variables[f"a{i}"] = suite_id, cursor
        more = post(client, more_runs_query(len(pending_runs)), variables)
        assert "errors" not in more, more["errors"]
        still = []
        for i, (sha, suite_id, _) in enumerate(pending_runs):
            suite = more["data"][f"s{i}"]
            out[sha].extend(_suite_runs(suite))
            page = suite["checkRuns"]["pageInfo"]
            if page["hasNextPage"]:
                still.append((sha, suite_id, page["endCursor"]))
        pending_runs = still
    return out


def runs_by_rest(client: httpx.Client, full_name: str, sha: str) -> list[JSON]:
    """REST ``commits/{sha}/check-runs?filter=all``, every page (the oracle)."""
    runs: list[JSON] = []
    url: str | None = f"/repos/{full_name}/commits/{sha}/check-runs?filter=all&per_page=100"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        runs += response.json()["check_runs"]
        url = response.links.get("next", {}).get("url")
    return runs


def rest_as_graphql(run: JSON) -> JSON:
    """A REST run in the shape :func:`runs_by_graphql` collects (enums upper-case)."""
    return {
        "databaseId": run["id"],
        "name": run["name"],
        "status": run["status"].upper(),
        "conclusion": None if run["conclusion"] is None else run["conclusion"].upper(),
        "startedAt": run["started_at"],
        "completedAt": run["completed_at"],
        "detailsUrl": run["details_url"],
        "title": run["output"]["title"],
        "summary": run["output"]["summary"],
        "app": run["app"]["slug"],
        "suite": run["check_suite"]["id"],
    }
