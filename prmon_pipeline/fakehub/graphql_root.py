"""The query root (``rateLimit``, ``repository``, ``node``, ``nodes``) and node-id lookups.

Node ids are GitHub's legacy form, base64 of ``<code>:<Type><id>`` (``08:CheckRun123``), the
same strings REST serves as ``node_id``, so a client can resolve any id it stored from either
API. Commits use ``06:Commit<repository id>:<sha>``.
"""

from __future__ import annotations

import base64
import binascii
import re

from prmon_pipeline.fakehub import checks
from prmon_pipeline.fakehub.graphql_connections import GitHubError
from prmon_pipeline.fakehub.graphql_resolvers import (
    JSON,
    Info,
    commit_source,
    repository_source,
    run_source,
    state_of,
    suite_by_id,
)
from prmon_pipeline.fakehub.handlers import commit_by_serial
from prmon_pipeline.fakehub.world import World

_LEGACY_ID = re.compile(r"[0-9]+:([A-Za-z]+)([0-9][0-9a-f:]*)")


def _decode_node_id(node_id: str) -> tuple[str, str] | None:
    """``(type name, rest)`` of a legacy node id, ``None`` when it is not one."""
    try:
        text = base64.b64decode(node_id.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    found = _LEGACY_ID.fullmatch(text)
    return None if found is None else (found[1], found[2])


def _repository_node(world: World, rest: str) -> JSON | None:
    repo = world.repository_by_id(int(rest)) if rest.isdigit() else None
    return None if repo is None else repository_source(repo)


def _commit_node(world: World, rest: str) -> JSON | None:
    repo_id, _, sha = rest.partition(":")
    repo = world.repository_by_id(int(repo_id)) if repo_id.isdigit() else None
    commit = None if repo is None else world.commit(repo, sha)
    return None if commit is None else commit_source(commit)


def _suite_node(world: World, rest: str) -> JSON | None:
    ident = int(rest) if rest.isdigit() else -1
    commit = commit_by_serial(world, (ident - checks.SUITE_ID_BASE) // 16)
    return None if commit is None else suite_by_id(world, commit, ident)


def _run_node(world: World, rest: str) -> JSON | None:
    ident = int(rest) if rest.isdigit() else -1
    commit = commit_by_serial(world, (ident - checks.RUN_ID_BASE) // checks.RUNS_PER_COMMIT_CAP)
    for run in [] if commit is None else world.materialize(commit):
        if run.id == ident:
            assert commit is not None
            return run_source(world, run, commit)
    return None


_NODE_LOOKUPS = {
    "Repository": _repository_node,
    "Commit": _commit_node,
    "CheckSuite": _suite_node,
    "CheckRun": _run_node,
}


def resolve_node(world: World, node_id: str) -> JSON | None:
    """``node(id:)``: repositories, commits, check suites and check runs by their ids."""
    decoded = _decode_node_id(node_id)
    lookup = None if decoded is None else _NODE_LOOKUPS.get(decoded[0])
    return None if lookup is None or decoded is None else lookup(world, decoded[1])


# -- the query root -------------------------------------------------------------------------


def _rate_limit(info: Info, dryRun: bool = False) -> JSON:  # noqa: N803
    return state_of(info).rate_limit


def _repository(info: Info, owner: str, name: str, followRenames: bool = True) -> JSON | None:  # noqa: N803
    state = state_of(info)
    if state.dry_run:
        return None
    world = state.world
    full_name = f"{owner}/{name}"
    repo = world.find_repository(full_name)
    if repo is None and followRenames:
        moved = world.moved_repository_id(full_name)
        repo = None if moved is None else world.repository_by_id(moved)
    if repo is None or (state.may_read is not None and not state.may_read(repo.full_name)):
        raise GitHubError(  # GitHub answers alike for a repository the token may not see
            "NOT_FOUND", f"Could not resolve to a Repository with the name '{full_name}'."
        )
    return repository_source(repo)


def _node_or_error(world: World, node_id: str) -> JSON | GitHubError:
    found = resolve_node(world, node_id)
    if found is None:
        message = f"Could not resolve to a node with the global id of '{node_id}'"
        return GitHubError("NOT_FOUND", message)
    return found


def _node(info: Info, id: str) -> JSON | None:
    state = state_of(info)
    if state.dry_run:
        return None
    state.spend(info)
    found = _node_or_error(state.world, id)
    if isinstance(found, GitHubError):
        raise found
    return found


def _nodes(info: Info, ids: list[str]) -> list[JSON | GitHubError]:
    """One entry per id; an unknown id is null with its own ``NOT_FOUND`` at ``[nodes, i]``
    (graphql-core turns an exception in a list into that item's error)."""
    state = state_of(info)
    if state.dry_run:
        return []
    state.spend(info)
    return [_node_or_error(state.world, i) for i in ids]


QUERY_ROOT: JSON = {
    "rateLimit": _rate_limit,
    "repository": _repository,
    "node": _node,
    "nodes": _nodes,
}
