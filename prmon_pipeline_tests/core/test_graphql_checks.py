"""GraphQL check-run queries and answers, without I/O: text, follow-ups, rows, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prmon_pipeline.core.discovery_plan import (
    CheckRunTarget,
    graphql_read_at,
    graphql_read_marker,
    rest_validator,
    route_check_run_targets,
)
from prmon_pipeline.core.errors import MalformedResponseError
from prmon_pipeline.core.github_json import parse_check_runs
from prmon_pipeline.core.graphql_checks import check_run_table, parse_answer
from prmon_pipeline.core.graphql_queries import (
    SUITES_PER_PAGE,
    GraphQLQuery,
    HeadKey,
    RunsPage,
    SuitesPage,
    WorkItem,
    build_query,
    cheapest_prefix,
    predicted_points,
    predicted_requests,
)

A = "a" * 40
B = "b" * 40
C = "c" * 40
BIG_ID = 9_267_762_757
"""A real check-run id of GitHub's (apache/devlake#3705): past 2**31, where a 32-bit Int fails."""


def run_node(ident: int, **fields: Any) -> dict[str, Any]:
    node = {
        "databaseId": ident,
        "name": f"run {ident}",
        "status": "COMPLETED",
        "conclusion": "STARTUP_FAILURE",
        "startedAt": "2026-01-02T03:04:05Z",
        "completedAt": "2026-01-02T03:05:05Z",
        "detailsUrl": "https://ci.example/1",
        "title": "T",
        "summary": "S\u0000!",
    }
    node.update(fields)
    return node


def connection(nodes: list[dict[str, Any]], cursor: str | None = None) -> dict[str, Any]:
    return {"pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor}, "nodes": nodes}


def suite(ident: str, slug: str | None, runs: list[dict[str, Any]], cursor: str | None = None):
    app = None if slug is None else {"slug": slug}
    return {"id": ident, "databaseId": 1, "app": app, "checkRuns": connection(runs, cursor)}


def commit(sha: str, suites: list[dict[str, Any]], cursor: str | None = None) -> dict[str, Any]:
    return {"oid": sha, "checkSuites": connection(suites, cursor)}


RATE = {"cost": 2, "limit": 5000, "remaining": 4990, "resetAt": "2026-01-02T04:00:00Z"}


def test_text_depends_only_on_the_shape_of_the_batch() -> None:
    one = build_query([HeadKey("o/r", A), HeadKey("o/r", B), HeadKey("x/y", C)])
    two = build_query([HeadKey("p/q", C), HeadKey("p/q", A), HeadKey("z/w", B)])
    assert one.text == two.text
    assert one.variables["o0"] == "o" and one.variables["n1"] == "y"
    assert one.variables["s0_1"] == B and two.variables["s0_1"] == A
    assert "$o0" in one.text and A not in one.text and "o/r" not in one.text
    assert list(one.aliases) == ["r0.h0", "r0.h1", "r1.h0"]
    assert "checkType: ALL" in one.text
    assert one.repositories == ("o/r", "x/y")
    assert build_query([HeadKey("o/r", A)]).text != one.text


def test_follow_ups_carry_their_cursor_inline() -> None:
    head = HeadKey("o/r", A)
    query = build_query(
        [SuitesPage(head, "S1"), RunsPage(head, "SUITE", "app", "R1"), HeadKey("o/r", B)]
    )
    assert query.aliases == {
        "r0.p0": SuitesPage(head, "S1"),
        "r0.h1": HeadKey("o/r", B),
        "s0": RunsPage(head, "SUITE", "app", "R1"),
    }
    assert query.variables["c0_0"] == "S1"
    assert (query.variables["id0"], query.variables["a0"]) == ("SUITE", "R1")
    assert "after: $c0_0" in query.text and "after: $a0" in query.text
    only_runs = build_query([RunsPage(head, "SUITE", "app", "R1")])
    assert "fragment HeadChecks" not in only_runs.text
    assert "fragment SuiteChecks" not in only_runs.text
    with pytest.raises(ValueError):
        build_query([])


def test_a_complete_answer_gives_rest_rows_with_lower_case_enums_and_64_bit_ids() -> None:
    query = build_query([HeadKey("o/r", A), HeadKey("o/r", B)])
    body = {
        "data": {
            "rateLimit": RATE,
            "r0": {
                "databaseId": 7,
                "h0": commit(A, [suite("S", "github-actions", [run_node(BIG_ID)])]),
                "h1": commit(B, []),
            },
        }
    }
    answer = parse_answer(query, body)
    assert not (answer.follow_ups or answer.gone or answer.retry or answer.repository_errors)
    assert answer.runs[HeadKey("o/r", B)] == []
    table = check_run_table("o/r", answer.runs[HeadKey("o/r", A)], (3, 5))
    row = table.to_pylist()[0]
    assert table.num_rows == 2 and table.column("pr_number").to_pylist() == [3, 5]
    assert row["github_id"] == BIG_ID and row["head_sha"] == A
    assert (row["status"], row["conclusion"]) == ("completed", "startup_failure")
    assert row["app_slug"] == "github-actions" and row["output_summary"] == "S!"
    assert row["started_at"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_rows_equal_what_the_rest_parser_makes_of_the_same_run() -> None:
    rest = {
        "id": BIG_ID,
        "head_sha": A,
        "name": "build",
        "status": "in_progress",
        "conclusion": None,
        "app": {"slug": "circleci"},
        "details_url": None,
        "started_at": "2026-01-02T03:04:05Z",
        "completed_at": None,
        "output": {"title": None, "summary": None},
    }
    node = run_node(
        BIG_ID,
        name="build",
        status="IN_PROGRESS",
        conclusion=None,
        detailsUrl=None,
        completedAt=None,
        title=None,
        summary=None,
    )
    query = build_query([HeadKey("o/r", A)])
    data = {"r0": {"h0": commit(A, [suite("S", "circleci", [node])])}}
    answer = parse_answer(query, {"data": data})
    graphql = check_run_table("o/r", answer.runs[HeadKey("o/r", A)], [9])
    assert graphql.equals(parse_check_runs([rest], "o/r", 9))


def test_pages_past_the_first_become_follow_ups_and_their_answers_add_runs() -> None:
    head = HeadKey("o/r", A)
    first = parse_answer(
        build_query([head]),
        {"data": {"r0": {"h0": commit(A, [suite("S", "x", [run_node(1)], "R")], "C")}}},
    )
    assert first.follow_ups == [SuitesPage(head, "C"), RunsPage(head, "S", "x", "R")]
    follow = build_query(first.follow_ups)
    body = {
        "data": {
            "r0": {"p0": commit(A, [suite("T", None, [run_node(3)])])},
            "s0": {"id": "S", "checkRuns": connection([run_node(2)])},
        }
    }
    second = parse_answer(follow, body)
    assert not second.follow_ups
    rows = check_run_table("o/r", first.runs[head] + second.runs[head], [1]).to_pylist()
    assert sorted((r["github_id"], r["app_slug"]) for r in rows) == [(1, "x"), (2, "x"), (3, None)]


def test_a_null_object_is_a_gone_sha_and_a_missing_repository_fails_only_itself() -> None:
    query = build_query([HeadKey("o/r", A), HeadKey("o/gone", B)])
    body = {
        "data": {"r0": {"h0": None}, "r1": None},
        "errors": [
            {
                "type": "NOT_FOUND",
                "path": ["r1"],
                "message": "Could not resolve to a Repository with the name 'o/gone'.",
            }
        ],
    }
    answer = parse_answer(query, body)
    assert answer.gone == [HeadKey("o/r", A)]
    assert list(answer.repository_errors) == ["o/gone"]
    assert "Could not resolve" in answer.repository_errors["o/gone"]
    assert not answer.retry and not answer.shrink


def test_resource_limits_retry_only_the_failed_aliases_and_keep_the_rest() -> None:
    query = build_query([HeadKey("o/r", A), HeadKey("o/r", B), HeadKey("x/y", C)])
    body = {
        "data": {"r0": {"h0": commit(A, []), "h1": None}, "r1": {"h0": None}},
        "errors": [
            {
                "type": "RESOURCE_LIMITS_EXCEEDED",
                "message": "Resource limits for this query exceeded.",
                "path": ["r0", "h1"],
            },
            {"message": "Resource limits for this query exceeded.", "path": ["r1"]},
        ],
    }
    answer = parse_answer(query, body)
    assert answer.shrink
    assert answer.retry == [HeadKey("o/r", B), HeadKey("x/y", C)]
    assert answer.runs == {HeadKey("o/r", A): []}
    assert not answer.gone and not answer.repository_errors


@pytest.mark.parametrize(
    "message",
    [
        "Something went wrong while executing your query. This may be the result of a timeout.",
        "timedout",
    ],
)
def test_an_answer_without_data_that_says_too_big_retries_everything(message: str) -> None:
    items: list[WorkItem] = [HeadKey("o/r", A), HeadKey("o/r", B)]
    answer = parse_answer(build_query(items), {"data": None, "errors": [{"message": message}]})
    assert answer.shrink and answer.retry == items


def test_an_answer_without_data_for_another_reason_is_malformed() -> None:
    query = build_query([HeadKey("o/r", A)])
    body = {"errors": [{"message": "Field 'x' doesn't exist on type 'Commit'", "locations": []}]}
    with pytest.raises(MalformedResponseError, match="doesn't exist"):
        parse_answer(query, body)


def test_other_errors_on_an_alias_fail_its_repository() -> None:
    query: GraphQLQuery = build_query([HeadKey("o/r", A), HeadKey("x/y", B)])
    body = {
        "data": {"r0": {"h0": None}, "r1": {"h0": commit(B, [])}},
        "errors": [{"type": "FORBIDDEN", "message": "no access", "path": ["r0", "h0"]}],
    }
    answer = parse_answer(query, body)
    assert list(answer.repository_errors) == ["o/r"]
    assert answer.runs == {HeadKey("x/y", B): []} and not answer.gone


def test_a_malformed_connection_names_the_repository_and_the_sha() -> None:
    query = build_query([HeadKey("o/r", A)])
    with pytest.raises(MalformedResponseError, match=f"o/r.*{A}"):
        parse_answer(query, {"data": {"r0": {"h0": {"oid": A, "checkSuites": None}}}})


def test_routing_sends_likely_304s_to_rest_and_new_or_unvalidated_heads_to_graphql() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    d = "d" * 40
    targets = [
        CheckRunTarget(A, (1,), conditional=True),  # a REST ETag is stored: a 304 is likely
        CheckRunTarget(B, (2,), conditional=True),  # read by GraphQL 5 minutes ago
        CheckRunTarget(C, (3,), conditional=True),  # read by GraphQL half a minute ago: again
        CheckRunTarget(d, (4,), conditional=False),  # a PR just moved onto it (read just now)
        CheckRunTarget("e" * 40, (5,), conditional=True),  # never read
    ]
    validators = {
        A: '"etag"',
        B: graphql_read_marker(now - timedelta(minutes=5)),
        C: graphql_read_marker(now - timedelta(seconds=30)),
        d: graphql_read_marker(now - timedelta(seconds=30)),
    }
    routes = route_check_run_targets(targets, validators)
    assert [t.head_sha for t in routes.rest] == [A]
    assert [t.head_sha for t in routes.graphql] == [B, C, d, "e" * 40]
    assert routes.skipped == []
    everything = route_check_run_targets(targets, validators, everything=True)
    assert everything.rest == [] and everything.skipped == []
    # Finished checks read only because their PR was updated: skipped once GraphQL read them.
    updated = [
        CheckRunTarget(B, (2,), conditional=True, only_changed=True),
        CheckRunTarget("e" * 40, (5,), conditional=True, only_changed=True),
    ]
    routes = route_check_run_targets(updated, validators)
    assert [t.head_sha for t in routes.skipped] == [B]
    assert [t.head_sha for t in routes.graphql] == ["e" * 40]


def test_a_graphql_read_marker_is_never_a_rest_validator() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    marker = graphql_read_marker(now)
    assert graphql_read_at(marker) == now and rest_validator(marker) is None
    assert rest_validator('W/"abc"') == 'W/"abc"' and graphql_read_at('W/"abc"') is None
    assert rest_validator("") is None and rest_validator(None) is None


def test_predicted_cost_follows_githubs_formula_and_the_cut_buys_most_per_point() -> None:
    heads: list[WorkItem] = [HeadKey("o/r", f"{i:040x}") for i in range(50)]
    runs_page = RunsPage(HeadKey("o/r", A), "S", None, "c")
    assert predicted_requests(heads[:24]) == 24 * (1 + SUITES_PER_PAGE)
    assert predicted_requests([runs_page]) == 1
    assert [predicted_points(r) for r in (1, 149, 150, 249, 250, 300)] == [1, 1, 2, 2, 3, 3]
    assert cheapest_prefix(heads) == 24  # 144 requests = 1 point; 25 would be 2
    assert cheapest_prefix(heads[:10]) == 10
    assert cheapest_prefix([runs_page] * 60 + heads) == 60 + 14  # 60 + 84 = 144 requests
    assert cheapest_prefix([]) == 0
