"""GraphQL answers for check runs → what to read next, and rows. Pure.

Partial data is kept and sorted: runs per SHA, follow-up pages, SHAs GitHub does not know,
aliases to ask again in a smaller query, repositories that failed (query text and cost:
``core.graphql_queries``). Rows are built by the REST parser
(``github_json.parse_check_runs``) from REST-shaped dicts, so validation, enum sets and NUL
stripping are the same code: enums are lower-cased, ``databaseId`` (beyond 2**31 on GitHub) is
taken as the JSON integer it arrives as, never through a 32-bit GraphQL ``Int``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from prmon_pipeline.core.errors import MalformedResponseError
from prmon_pipeline.core.github_json import parse_check_runs
from prmon_pipeline.core.graphql_protocol import (
    GraphQLErrorKind,
    classify_graphql_error,
    error_path,
    error_summary,
    graphql_errors,
)
from prmon_pipeline.core.graphql_queries import (
    GraphQLQuery,
    HeadKey,
    RunsPage,
    SuitesPage,
    WorkItem,
    head_of,
)
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA


@dataclass
class QueryAnswer:
    """What one answer gave, sorted by what the reader must do next.

    ``runs``: REST-shaped run dicts per SHA (this answer's share; a SHA's rows are complete
    once it has no follow-ups left). ``follow_ups``: pages still to read. ``gone``: SHAs whose
    ``object`` is null without an error (GitHub's answer for an unknown commit: the item
    failure REST reports as 422 "No commit found"). ``retry``: items whose alias failed with a
    too-big/too-slow error (ask again, in a smaller query). ``shrink``: some error said the
    query was too big. ``repository_errors``: repositories that failed as a whole
    (``NOT_FOUND`` or any other error on their alias or their items), by message.
    """

    runs: dict[HeadKey, list[dict[str, Any]]] = field(default_factory=dict)
    follow_ups: list[WorkItem] = field(default_factory=list)
    gone: list[HeadKey] = field(default_factory=list)
    retry: list[WorkItem] = field(default_factory=list)
    shrink: bool = False
    repository_errors: dict[str, str] = field(default_factory=dict)


def parse_answer(query: GraphQLQuery, body: Any) -> QueryAnswer:
    """Sort one decoded answer of ``query`` into runs, follow-ups, gone SHAs and failures.

    Partial data is kept: an alias whose subtree carries an error is retried (too big) or
    fails its repository (anything else); the other aliases' data is used. An answer without
    ``data`` and with a too-big error retries every item; without ``data`` otherwise (an
    invalid query, say) it is malformed.
    """
    errors = graphql_errors(body)
    data = body.get("data") if isinstance(body, dict) else None
    answer = QueryAnswer()
    if not isinstance(data, dict):
        kinds = {classify_graphql_error(e) for e in errors}
        if GraphQLErrorKind.SHRINK in kinds or not errors:
            answer.shrink = True
            answer.retry = list(query.aliases.values())
            return answer
        raise MalformedResponseError(f"GraphQL answer without data: {error_summary(errors)}")
    failed = _failed_aliases(query, errors, answer)
    for alias, item in query.aliases.items():
        head = head_of(item)
        if alias in failed or head.repository in answer.repository_errors:
            if failed.get(alias) is GraphQLErrorKind.SHRINK:
                answer.retry.append(item)
            continue
        node = _at(data, alias)
        repo_node = data.get(alias.split(".")[0]) if "." in alias else {}
        if repo_node is None:
            answer.repository_errors.setdefault(
                head.repository, f"{head.repository}: GraphQL: repository not found"
            )
            continue
        _read_item(item, node, answer)
    return answer


def _failed_aliases(
    query: GraphQLQuery, errors: Sequence[Mapping[str, Any]], answer: QueryAnswer
) -> dict[str, GraphQLErrorKind]:
    """The aliases an error's ``path`` points into, with the error's kind.

    A path into one ``h``/``p``/``s`` alias names that item; a path ending at (or beside the
    items of) a repository alias names all of that repository's items. Errors other than
    too-big ones also fail the item's repository (``answer.repository_errors``).
    """
    failed: dict[str, GraphQLErrorKind] = {}
    for error in errors:
        kind = classify_graphql_error(error)
        path = error_path(error)
        if kind is GraphQLErrorKind.SHRINK:
            answer.shrink = True
        if not path or path[0] == "rateLimit":
            continue
        root = str(path[0])
        one = f"{root}.{path[1]}" if len(path) > 1 else root
        if root in query.aliases:
            targets = [root]
        elif one in query.aliases:
            targets = [one]
        else:
            targets = [a for a in query.aliases if a.split(".")[0] == root]
        for alias in targets:
            failed[alias] = kind
            if kind is not GraphQLErrorKind.SHRINK:
                repository = head_of(query.aliases[alias]).repository
                answer.repository_errors[repository] = (
                    f"{repository}: GraphQL: {error_summary([error])}"
                )
    return failed


def _at(data: Mapping[str, Any], alias: str) -> Any:
    node: Any = data
    for part in alias.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _read_item(item: WorkItem, node: Any, answer: QueryAnswer) -> None:
    head = head_of(item)
    if isinstance(item, RunsPage):
        runs = _connection(node.get("checkRuns") if isinstance(node, dict) else None, head, "runs")
        _add_runs(answer, head, item.app_slug, runs.nodes)
        if runs.next_cursor is not None:
            answer.follow_ups.append(RunsPage(head, item.suite_id, item.app_slug, runs.next_cursor))
        return
    if node is None:
        if isinstance(item, HeadKey):
            answer.gone.append(head)
            return
        raise MalformedResponseError(f"{head.repository}: GraphQL: commit {head.head_sha} vanished")
    if not isinstance(node, dict):
        raise MalformedResponseError(f"{head.repository}: GraphQL: {head.head_sha} not an object")
    answer.runs.setdefault(head, [])
    if "checkSuites" not in node:  # a tree or blob: GitHub's REST says "No commit found"
        answer.gone.append(head)
        return
    suites = _connection(node.get("checkSuites"), head, "suites")
    if suites.next_cursor is not None:
        answer.follow_ups.append(SuitesPage(head, suites.next_cursor))
    for suite in suites.nodes:
        app = suite.get("app")
        slug = app.get("slug") if isinstance(app, dict) else None
        runs = _connection(suite.get("checkRuns"), head, "runs")
        _add_runs(answer, head, slug, runs.nodes)
        if runs.next_cursor is not None:
            suite_id = suite.get("id")
            if not isinstance(suite_id, str):
                raise MalformedResponseError(f"{head.repository}: GraphQL: suite without id")
            answer.follow_ups.append(RunsPage(head, suite_id, slug, runs.next_cursor))


@dataclass(frozen=True)
class _Connection:
    nodes: list[dict[str, Any]]
    next_cursor: str | None


def _connection(value: Any, head: HeadKey, what: str) -> _Connection:
    if not isinstance(value, dict) or not isinstance(value.get("nodes"), list):
        raise MalformedResponseError(
            f"{head.repository}: GraphQL: {what} of {head.head_sha} missing"
        )
    info = value.get("pageInfo") or {}
    cursor = info.get("endCursor") if info.get("hasNextPage") else None
    if info.get("hasNextPage") and not isinstance(cursor, str):
        raise MalformedResponseError(f"{head.repository}: GraphQL: {what} page without cursor")
    return _Connection([n for n in value["nodes"] if isinstance(n, dict)], cursor)


def _add_runs(
    answer: QueryAnswer, head: HeadKey, app_slug: str | None, nodes: list[dict[str, Any]]
) -> None:
    answer.runs.setdefault(head, []).extend(rest_run(head.head_sha, app_slug, n) for n in nodes)


def rest_run(head_sha: str, app_slug: str | None, node: Mapping[str, Any]) -> dict[str, Any]:
    """One GraphQL ``CheckRun`` as the REST check-run object ``parse_check_runs`` reads."""
    return {
        "id": node.get("databaseId"),
        "head_sha": head_sha,
        "name": node.get("name"),
        "status": _lower(node.get("status")),
        "conclusion": _lower(node.get("conclusion")),
        "app": None if app_slug is None else {"slug": app_slug},
        "details_url": node.get("detailsUrl"),
        "started_at": node.get("startedAt"),
        "completed_at": node.get("completedAt"),
        "output": {"title": node.get("title"), "summary": node.get("summary")},
    }


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def check_run_table(
    repository: str, runs: Sequence[Mapping[str, Any]], pr_numbers: Sequence[int]
) -> pa.Table:
    """``CHECK_RUN_SCHEMA`` rows of one SHA's runs, one per (PR number, run), as REST's."""
    if not runs:
        return CHECK_RUN_SCHEMA.empty_table()
    return parse_check_runs(list(runs), repository, pr_numbers)
