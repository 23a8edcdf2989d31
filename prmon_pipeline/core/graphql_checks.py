"""Check runs of many head SHAs by GraphQL: query text, answers, rows. Pure.

One query reads the first page of check suites (and each suite's first 100 runs) of many head
SHAs across several repositories: one ``r<i>: repository`` alias per repository, one
``h<j>: object(oid:)`` alias per SHA (the contract in ``notes/graphql-contract.md``, GitHub's
real schema). Values travel in variables, so the text depends only on the shape of the batch.
What did not fit a first page is read by follow-up items in later queries of the same kind:
``p<j>`` (more suites of one commit, inside its repository alias) and ``s<k>: node(id:)`` (more
runs of one suite). A shared fragment cannot carry a per-alias cursor, so follow-ups put their
``after:`` inline and reuse fragments only below it.

Semantics equal REST ``GET /commits/{sha}/check-runs?filter=all``: ``checkType: ALL`` keeps
re-runs and superseded runs (the default would be LATEST). Rows are built by the REST parser
(``github_json.parse_check_runs``) from REST-shaped dicts, so validation, enum sets and NUL
stripping are the same code: enums are lower-cased, ``databaseId`` (beyond 2**31 on GitHub) is
taken as the JSON integer it arrives as, never through a 32-bit GraphQL ``Int``.

Cost (GitHub's formula, ``shared/GITHUB-GRAPHQL.md`` §2.1): every SHA implies one
``checkSuites`` request plus ``SUITES_PER_PAGE`` ``checkRuns`` requests, so a query of 25 SHAs
is 150 requests = 2 points and one of 50 is 3. Five suites cover the common commit (one suite
per app: Actions, one or two CI services, coverage, a policy bot); a commit with more costs one
follow-up item, far cheaper than asking every SHA for ten.
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
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA

SUITES_PER_PAGE = 5
RUNS_PER_PAGE = 100
RATE_LIMIT_SELECTION = "rateLimit { cost limit remaining resetAt nodeCount used }"
RUN_FIELDS = (
    "fragment RunFields on CheckRun {\n"
    "  databaseId name status conclusion startedAt completedAt detailsUrl title summary\n"
    "}"
)


def _runs_connection(after: str = "") -> str:
    """Every run of a suite (``checkType: ALL`` = REST ``filter=all``), after ``after``."""
    return (
        f"checkRuns(first: {RUNS_PER_PAGE}{after}, filterBy: {{checkType: ALL}}) "
        "{ pageInfo { hasNextPage endCursor } nodes { ...RunFields } }"
    )


def _suites_connection(after: str = "") -> str:
    return (
        f"checkSuites(first: {SUITES_PER_PAGE}{after}) "
        "{ pageInfo { hasNextPage endCursor } nodes { ...SuiteChecks } }"
    )


SUITE_FIELDS = (
    "fragment SuiteChecks on CheckSuite {\n  id databaseId app { slug }\n  "
    + _runs_connection()
    + "\n}"
)
HEAD_CHECKS = "fragment HeadChecks on Commit {\n  oid\n  " + _suites_connection() + "\n}"


@dataclass(frozen=True)
class HeadKey:
    """One head SHA of one repository (``owner/name``)."""

    repository: str
    head_sha: str


@dataclass(frozen=True)
class SuitesPage:
    """More check suites of one commit, after ``cursor``."""

    head: HeadKey
    cursor: str


@dataclass(frozen=True)
class RunsPage:
    """More runs of one suite (GraphQL node ``suite_id``), after ``cursor``."""

    head: HeadKey
    suite_id: str
    app_slug: str | None
    cursor: str


WorkItem = HeadKey | SuitesPage | RunsPage
"""One unit of a query: a SHA's first page, or one follow-up page of it."""


def head_of(item: WorkItem) -> HeadKey:
    """The SHA a work item belongs to."""
    return item if isinstance(item, HeadKey) else item.head


def predicted_requests(items: Sequence[WorkItem]) -> int:
    """The requests GitHub's cost formula counts for a query of ``items``.

    A first page or a suites page: one ``checkSuites`` request plus ``checkRuns`` for each of
    the ``SUITES_PER_PAGE`` suites it may hold; a runs page: one ``checkRuns`` request.
    """
    return sum(1 if isinstance(i, RunsPage) else 1 + SUITES_PER_PAGE for i in items)


def predicted_points(requests: int) -> int:
    """GitHub's points for a query of ``requests``: /100 rounded half up, at least 1."""
    return max(1, (requests + 50) // 100)


def cheapest_prefix(items: Sequence[WorkItem]) -> int:
    """How many of ``items`` (a prefix) to send so each point buys the most items.

    Points are rounded: 24 first pages are 144 requests = 1 point, 25 are 150 = 2. Sending the
    25th alone in the next query costs what it would have cost here, and it may be joined by
    23 more, so the prefix with the most items per point is sent (ties: the longer one).
    """
    best, best_rate, requests = 0, 0.0, 0
    for count, item in enumerate(items, start=1):
        requests += predicted_requests([item])
        rate = count / predicted_points(requests)
        if rate >= best_rate:
            best, best_rate = count, rate
    return best


@dataclass(frozen=True)
class GraphQLQuery:
    """Text, variables, and which work item each alias answers (``"r0.h1"``, ``"s2"``)."""

    text: str
    variables: dict[str, Any]
    aliases: dict[str, WorkItem]

    def payload(self) -> dict[str, Any]:
        """The JSON body of the POST."""
        return {"query": self.text, "variables": self.variables}

    @property
    def repositories(self) -> tuple[str, ...]:
        """The repositories the query reads, in first-seen order (for logs)."""
        return tuple(dict.fromkeys(head_of(i).repository for i in self.aliases.values()))


def build_query(items: Sequence[WorkItem]) -> GraphQLQuery:
    """One query for ``items``: first pages and follow-ups of any repositories, mixed.

    Items of one repository share its ``r<i>`` alias (in first-seen order); runs pages are
    root ``s<k>: node(id:)`` aliases. The text depends only on the sequence of item kinds per
    repository and the number of runs pages.
    """
    if not items:
        raise ValueError("a GraphQL check-run query needs at least one item")
    groups: dict[str, list[HeadKey | SuitesPage]] = {}
    runs_pages: list[RunsPage] = []
    for item in items:
        if isinstance(item, RunsPage):
            runs_pages.append(item)
        else:
            groups.setdefault(head_of(item).repository, []).append(item)
    declarations: list[str] = []
    body: list[str] = [f"  {RATE_LIMIT_SELECTION}"]
    variables: dict[str, Any] = {}
    aliases: dict[str, WorkItem] = {}
    for i, (repository, members) in enumerate(groups.items()):
        owner, _, name = repository.partition("/")
        declarations += [f"$o{i}: String!", f"$n{i}: String!"]
        variables[f"o{i}"], variables[f"n{i}"] = owner, name
        body.append(f"  r{i}: repository(owner: $o{i}, name: $n{i}) {{")
        body.append("    databaseId")
        for j, member in enumerate(members):
            declarations.append(f"$s{i}_{j}: GitObjectID!")
            variables[f"s{i}_{j}"] = head_of(member).head_sha
            if isinstance(member, HeadKey):
                aliases[f"r{i}.h{j}"] = member
                body.append(f"    h{j}: object(oid: $s{i}_{j}) {{ ...HeadChecks }}")
            else:
                aliases[f"r{i}.p{j}"] = member
                declarations.append(f"$c{i}_{j}: String")
                variables[f"c{i}_{j}"] = member.cursor
                suites = _suites_connection(f", after: $c{i}_{j}")
                body.append(
                    f"    p{j}: object(oid: $s{i}_{j}) {{ ... on Commit {{ oid {suites} }} }}"
                )
        body.append("  }")
    for k, page in enumerate(runs_pages):
        declarations += [f"$id{k}: ID!", f"$a{k}: String"]
        variables[f"id{k}"], variables[f"a{k}"] = page.suite_id, page.cursor
        aliases[f"s{k}"] = page
        runs = _runs_connection(f", after: $a{k}")
        body.append(f"  s{k}: node(id: $id{k}) {{ ... on CheckSuite {{ id {runs} }} }}")
    fragments = [RUN_FIELDS]
    if groups:
        fragments.insert(0, SUITE_FIELDS)
    if any(isinstance(m, HeadKey) for members in groups.values() for m in members):
        fragments.insert(0, HEAD_CHECKS)
    text = (
        f"query CheckRunsByHead({', '.join(declarations)}) {{\n"
        + "\n".join(body)
        + "\n}\n"
        + "\n".join(fragments)
        + "\n"
    )
    return GraphQLQuery(text, variables, aliases)


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
