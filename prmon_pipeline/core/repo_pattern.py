"""``owner/*`` patterns and the repositories a listing of the owner returns.

A pattern registers every repository of one GitHub owner (organisation or user). Only the
whole-owner form ``owner/*`` is accepted: GitHub has no server-side name filter for repository
listings, and a glob over names would silently match repositories created later that nobody
meant to mirror. The owner is checked by the same rules as a repository key
(:mod:`prmon_pipeline.core.repo_key`) before it is ever used in a URL or SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prmon_pipeline.core.errors import InvalidRepositoryKeyError, MalformedResponseError
from prmon_pipeline.core.repo_key import RepoKey, is_valid_owner, parse_repo_key

WILDCARD = "*"


@dataclass(frozen=True, order=True)
class RepoPattern:
    """A validated ``owner/*``; ``str(pattern)`` is the canonical form."""

    owner: str

    def __str__(self) -> str:
        return f"{self.owner}/{WILDCARD}"


def is_repo_pattern(text: str) -> bool:
    """True when ``text`` looks like a pattern (has a ``*``), valid or not.

    The CLI uses this to route an argument to pattern or name handling; validation is
    :func:`parse_repo_pattern`'s.
    """
    return WILDCARD in text


def parse_repo_pattern(text: str) -> RepoPattern:
    """Parse ``owner/*``; raise :class:`InvalidRepositoryKeyError` with a one-line reason."""
    parts = text.strip().split("/")
    if len(parts) != 2 or parts[1] != WILDCARD:
        raise InvalidRepositoryKeyError(
            f"a repository pattern must be 'owner/*' (every repository of the owner), got {text!r}"
        )
    owner = parts[0]
    if not is_valid_owner(owner):
        raise InvalidRepositoryKeyError(f"invalid GitHub owner {owner!r} in {text!r}")
    return RepoPattern(owner)


@dataclass(frozen=True)
class ListedRepository:
    """One repository of an owner's listing: GitHub's id, its current name and two flags."""

    github_id: int
    key: RepoKey
    archived: bool
    fork: bool

    @property
    def full_name(self) -> str:
        return self.key.full_name


def parse_listed_repository(item: Mapping[str, Any], context: str = "") -> ListedRepository:
    """A ``minimal-repository`` (or ``repository``) JSON object -> :class:`ListedRepository`.

    The same shape comes from ``GET /orgs/{org}/repos``, ``GET /users/{user}/repos`` and
    ``GET /installation/repositories`` (its ``repositories[]``), so one parser serves all three.
    https://docs.github.com/rest/repos/repos#list-organization-repositories
    """
    where = f"{context}: " if context else ""
    try:
        github_id = item["id"]
        full_name = item["full_name"]
        archived = item.get("archived", False)
        fork = item["fork"]
    except (KeyError, TypeError) as exc:
        raise MalformedResponseError(f"{where}repository item lacks {exc}") from exc
    if not isinstance(github_id, int) or isinstance(github_id, bool):
        raise MalformedResponseError(f"{where}repository id {github_id!r} is not an integer")
    if not isinstance(archived, bool) or not isinstance(fork, bool):
        raise MalformedResponseError(f"{where}{full_name!r}: 'archived'/'fork' are not booleans")
    try:
        key = parse_repo_key(full_name)
    except InvalidRepositoryKeyError as exc:
        raise MalformedResponseError(f"{where}{exc}") from exc
    return ListedRepository(github_id=github_id, key=key, archived=archived, fork=fork)
