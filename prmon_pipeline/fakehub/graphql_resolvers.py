"""The world model as GraphQL sources: repositories, commits, check suites, check runs.

Every object is a plain dict keyed by GraphQL field name (graphql-core's default resolver reads
dict keys and calls callables with ``(info, **args)``), with ``__typename`` for the ``Node`` and
``GitObject`` interfaces. Run fields come from the very bytes REST serves
(``World.run_bytes``), so both APIs show the same run at the same moment; runs are
materialised lazily exactly as the REST handlers do (``World.materialize`` under the world
lock, which the endpoint holds for the whole execution).

Suites are (commit, app) pairs with ``suite_id`` (``checks.suite_id``): served by
``databaseId`` ascending, runs within a suite newest first, as on GitHub.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import GraphQLResolveInfo

from prmon_pipeline.fakehub.graphql_connections import GitHubError, connection
from prmon_pipeline.fakehub.model import App, CheckRun, Commit, Repository
from prmon_pipeline.fakehub.pages import latest_per_name
from prmon_pipeline.fakehub.render_repository import legacy_node_id
from prmon_pipeline.fakehub.world import World

JSON = dict[str, Any]
Info = GraphQLResolveInfo
RESOURCE_LIMITS_MESSAGE = "Resource limits for this query exceeded."
_SUITE_CONCLUSION_ORDER = (
    "action_required",
    "startup_failure",
    "timed_out",
    "failure",
    "cancelled",
    "stale",
    "neutral",
    "success",
    "skipped",
)


@dataclass(slots=True)
class ExecutionState:
    """Per-query context: the world, the ``rateLimit`` values, the resource budget.

    ``resource_nodes`` is the declared-node budget after which ``object``/``node`` aliases
    resolve to null with a "Resource limits" error (``None`` = unlimited); ``subtree_nodes``
    (from the cost walk) says what each alias declares.
    """

    world: World
    rate_limit: JSON
    variables: JSON = field(default_factory=dict)
    dry_run: bool = False
    resource_nodes: int | None = None
    subtree_nodes: dict[int, int] = field(default_factory=dict)
    spent_nodes: int = 0
    may_read: Callable[[str], bool] | None = None
    """For an App installation's token: whether it may read ``owner/name`` (its selection);
    None: every repository (a personal token)."""

    def spend(self, info: Info) -> None:
        """Charge an alias's declared nodes to the resource budget; refuse past it."""
        if self.resource_nodes is None:
            return
        self.spent_nodes += self.subtree_nodes.get(id(info.field_nodes[0]), 0)
        if self.spent_nodes > self.resource_nodes:
            raise GitHubError("RESOURCE_LIMITS_EXCEEDED", RESOURCE_LIMITS_MESSAGE)


def state_of(info: Info) -> ExecutionState:
    state: ExecutionState = info.context
    return state


# -- node ids -------------------------------------------------------------------------------


def commit_node_id(commit: Commit) -> str:
    """``MDY6Q29tbWl0...``: base64 of ``06:Commit<repository id>:<sha>``, GitHub's legacy form."""
    return base64.b64encode(f"06:Commit{commit.repo.id}:{commit.sha}".encode()).decode()


def suite_node_id(suite_id: int) -> str:
    """Legacy node id of a check suite (``010:CheckSuite<id>``)."""
    return legacy_node_id("010", "CheckSuite", suite_id)


# -- sources --------------------------------------------------------------------------------


def app_source(app: App) -> JSON:
    """``App``: slug, name, databaseId and node id as REST's ``app`` object has them."""
    return {
        "__typename": "App",
        "id": app.json.get("node_id") or legacy_node_id("03", "App", app.id),
        "databaseId": app.id,
        "slug": app.slug,
        "name": app.name,
    }


def repository_source(repo: Repository) -> JSON:
    """``Repository`` with its ``object(oid:, expression:)`` lookup."""
    return {
        "__typename": "Repository",
        "id": legacy_node_id("010", "Repository", repo.id),
        "databaseId": repo.id,
        "name": repo.name,
        "nameWithOwner": repo.full_name,
        "object": functools.partial(_object, repo),
    }


def commit_source(commit: Commit) -> JSON:
    """``Commit`` with its ``checkSuites`` connection."""
    return {
        "__typename": "Commit",
        "id": commit_node_id(commit),
        "oid": commit.sha,
        "checkSuites": functools.partial(_check_suites, commit),
    }


def _suite_status(runs: list[CheckRun]) -> str:
    statuses = {r.status for r in runs}
    if statuses == {"completed"}:
        return "COMPLETED"
    return "IN_PROGRESS" if "in_progress" in statuses or "completed" in statuses else "QUEUED"


def _suite_conclusion(runs: list[CheckRun]) -> str | None:
    """The most severe conclusion once every run completed (latest run per name counts)."""
    if any(r.status != "completed" for r in runs):
        return None
    latest = {r.name: r.conclusion for r in sorted(runs, key=lambda r: r.id)}
    found = set(latest.values())
    for conclusion in _SUITE_CONCLUSION_ORDER:
        if conclusion in found:
            return conclusion.upper()
    return None


def suite_source(world: World, commit: Commit, suite_id: int, runs: list[CheckRun]) -> JSON:
    """``CheckSuite`` of (commit, app): ``runs`` are its runs, newest first."""
    return {
        "__typename": "CheckSuite",
        "id": suite_node_id(suite_id),
        "databaseId": suite_id,
        "status": _suite_status(runs),
        "conclusion": _suite_conclusion(runs),
        "app": app_source(runs[0].app),
        "commit": lambda _info: commit_source(commit),
        "checkRuns": functools.partial(_check_runs, world, commit, runs),
    }


def run_source(world: World, run: CheckRun, commit: Commit) -> JSON:
    """``CheckRun`` read from the REST bytes of the run (the same moment, the same values)."""
    rest = orjson.loads(world.run_bytes(run, commit))
    output = rest["output"]
    conclusion = rest["conclusion"]
    return {
        "__typename": "CheckRun",
        "id": rest["node_id"],
        "databaseId": run.id,
        "name": run.name,
        "status": rest["status"].upper(),
        "conclusion": None if conclusion is None else conclusion.upper(),
        "startedAt": rest["started_at"],
        "completedAt": rest["completed_at"],
        "detailsUrl": rest["details_url"],
        "externalId": rest["external_id"],
        "title": output["title"],
        "summary": output["summary"],
        "text": output["text"],
        "url": rest["html_url"],
        "permalink": rest["html_url"],
        "checkSuite": lambda _info: suite_by_id(world, commit, run.suite_id),
    }


# -- world lookups --------------------------------------------------------------------------


def suites(world: World, commit: Commit) -> dict[int, list[CheckRun]]:
    """The commit's suites by id ascending, each with its runs newest first."""
    grouped: dict[int, list[CheckRun]] = {}
    for run in world.sorted_runs(commit):
        grouped.setdefault(run.suite_id, []).append(run)
    return dict(sorted(grouped.items()))


def suite_by_id(world: World, commit: Commit, suite_id: int) -> JSON | None:
    runs = suites(world, commit).get(suite_id)
    return None if runs is None else suite_source(world, commit, suite_id, runs)


def _object(
    repo: Repository, info: Info, oid: str | None = None, expression: str | None = None
) -> JSON | None:
    """``Repository.object``: a commit of this repository by full SHA (``oid``) or by a branch
    ``expression``; null when there is none (GitHub answers null, no error, for an unknown SHA).
    """
    state = state_of(info)
    if state.dry_run:
        return None
    state.spend(info)
    world = state.world
    commit = None
    if oid is not None:
        found = world.pop.commits.get(oid.lower())
        commit = found if found is not None and found.repo is repo else None
    elif expression is not None:
        commit = world.commit(repo, expression)
    return None if commit is None else commit_source(commit)


def _check_suites(commit: Commit, info: Info, filterBy: JSON | None = None, **args: Any) -> JSON:  # noqa: N803
    world = state_of(info).world
    grouped = suites(world, commit)
    flt = filterBy or {}
    if flt.get("appId") is not None:
        grouped = {k: v for k, v in grouped.items() if v[0].app.id == flt["appId"]}
    if flt.get("checkName") is not None:
        name = flt["checkName"]
        grouped = {k: v for k, v in grouped.items() if any(r.name == name for r in v)}
    return connection(
        list(grouped.items()),
        key=lambda item: item[0],
        descending=False,
        to_source=lambda item: suite_source(world, commit, item[0], item[1]),
        args=args,
    )


def select_runs(runs: list[CheckRun], flt: JSON) -> list[CheckRun]:
    """``CheckRunFilter`` over runs newest first: ``checkType`` LATEST (default) keeps the
    newest run per name, as REST ``filter=latest``; ALL keeps re-runs and superseded runs."""
    if flt.get("checkType", "LATEST") != "ALL":
        runs = latest_per_name(runs)
    statuses = flt.get("statuses")
    if statuses is None and flt.get("status") is not None:
        statuses = [flt["status"]]
    if statuses is not None:
        wanted = {s.lower() for s in statuses}
        runs = [r for r in runs if r.status in wanted]
    if flt.get("conclusions") is not None:
        concluded = {c.lower() for c in flt["conclusions"]}
        runs = [r for r in runs if r.conclusion in concluded]
    if flt.get("checkName") is not None:
        runs = [r for r in runs if r.name == flt["checkName"]]
    if flt.get("appId") is not None:
        runs = [r for r in runs if r.app.id == flt["appId"]]
    return runs


def _check_runs(
    world: World,
    commit: Commit,
    runs: list[CheckRun],
    info: Info,
    filterBy: JSON | None = None,  # noqa: N803
    **args: Any,
) -> JSON:
    return connection(
        select_runs(runs, filterBy or {}),
        key=lambda run: run.id,
        descending=True,
        to_source=lambda run: run_source(world, run, commit),
        args=args,
    )
