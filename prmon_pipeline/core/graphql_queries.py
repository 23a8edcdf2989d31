"""GraphQL query text for the check runs of many head SHAs, and what a query costs. Pure.

One query reads the first page of check suites (and each suite's first 100 runs) of many head
SHAs across several repositories: one ``r<i>: repository`` alias per repository, one
``h<j>: object(oid:)`` alias per SHA (the contract in ``notes/graphql-contract.md``, GitHub's
real schema). Values travel in variables, so the text depends only on the shape of the batch.
What did not fit a first page is read by follow-up items in later queries of the same kind:
``p<j>`` (more suites of one commit, inside its repository alias) and ``s<k>: node(id:)`` (more
runs of one suite). A shared fragment cannot carry a per-alias cursor, so follow-ups put their
``after:`` inline and reuse fragments only below it. ``checkType: ALL`` keeps re-runs and
superseded runs, as REST's ``filter=all`` (the default would be LATEST).

Cost (GitHub's formula, ``shared/GITHUB-GRAPHQL.md`` §2.1): every SHA implies one
``checkSuites`` request plus ``SUITES_PER_PAGE`` ``checkRuns`` requests, so a query of 24 SHAs
is 144 requests = 1 point, one of 25 is 150 = 2 and one of 50 is 3. Five suites cover the
common commit (one suite per app: Actions, one or two CI services, coverage, a policy bot); a
commit with more costs one follow-up item, far cheaper than asking every SHA for ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
