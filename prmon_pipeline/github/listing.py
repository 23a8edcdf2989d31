"""Every repository of one GitHub owner, for ``owner/*`` patterns.

An organisation's repositories come from ``GET /orgs/{org}/repos?type=all``; that endpoint
answers 404 for a user account, whose repositories come from ``GET /users/{user}/repos`` (after
``GET /users/{user}`` confirmed the account exists and is not an organisation we may not see).
Pages are followed through ``Link`` headers only, never by building page URLs.
https://docs.github.com/rest/repos/repos#list-organization-repositories
https://docs.github.com/rest/repos/repos#list-repositories-for-a-user

With GitHub App auth the installation's own listing (``GET /installation/repositories``) is the
better source: it is exactly what the App may read (an installation may be granted a selection
of the account's repositories). :func:`owner_lister` picks the listing a client's credentials
call for; anything that turns an owner into an :class:`OwnerListing` can drive a refresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from prmon_pipeline.core.errors import MalformedResponseError, PermissionDeniedError
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.core.repo_pattern import ListedRepository, parse_listed_repository
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.installation import list_installation_repositories

ORGANIZATION = "Organization"
USER = "User"
ORG_LISTING_PARAMS: dict[str, str | int] = {"type": "all", "per_page": 100}
USER_LISTING_PARAMS: dict[str, str | int] = {"type": "owner", "per_page": 100}
"""A user's own repositories (``type=all`` would add those they merely collaborate on)."""


@dataclass(frozen=True)
class OwnerListing:
    """The repositories listed for one owner, and whether it is an organisation or a user."""

    owner: str
    owner_type: str | None
    """``Organization`` or ``User``; None when the listing did not say (an empty installation)."""
    repositories: tuple[ListedRepository, ...]


OwnerLister = Callable[[str], Awaitable[OwnerListing]]
"""An owner's login -> its listing; :func:`rest_lister` or one built on an App installation."""


def owner_lister(client: GitHubClient) -> OwnerLister:
    """The listing this client's credentials call for: the App installation's repositories
    with GitHub App auth, else the owner's REST listing."""
    return installation_lister(client) if client.config.app is not None else rest_lister(client)


def installation_lister(client: GitHubClient) -> OwnerLister:
    """An owner's repositories as its App installation sees them (needs App auth)."""

    async def lister(owner: str) -> OwnerListing:
        found = await list_installation_repositories(client, owner)
        listed = [
            ListedRepository(r.github_id, parse_repo_key(r.full_name), r.archived, r.fork)
            for r in found
        ]
        kinds = {r.owner_type for r in found} & {ORGANIZATION, USER}
        return owner_listing(owner, kinds.pop() if len(kinds) == 1 else None, listed)

    return lister


def rest_lister(client: GitHubClient) -> OwnerLister:
    """The REST lister bound to a client (token or anonymous)."""

    async def lister(owner: str) -> OwnerListing:
        return await list_owner_repositories(client, owner)

    return lister


async def list_owner_repositories(client: GitHubClient, owner: str) -> OwnerListing:
    """Every repository of ``owner``: the organisation listing, else the user's.

    Raises :class:`PermissionDeniedError` when the owner does not exist (or is not visible).
    """
    login = quote(owner, safe="")
    try:
        items = await _walk(client, f"orgs/{login}/repos", ORG_LISTING_PARAMS, owner)
        return listing_from_items(owner, ORGANIZATION, items)
    except PermissionDeniedError as exc:
        if exc.http_status != 404:
            raise
    try:
        account = (await client.get(f"users/{login}", context=owner)).data
    except PermissionDeniedError as exc:
        if exc.http_status != 404:
            raise
        raise PermissionDeniedError(
            f"{owner}: no GitHub organisation or user of this name (or none this token may see)",
            http_status=404,
        ) from exc
    owner_type = account.get("type") if isinstance(account, dict) else None
    if owner_type != USER:
        raise PermissionDeniedError(
            f"{owner}: GitHub lists no repositories for this {owner_type or 'account'}"
            " (an organisation this token may not see?)",
            http_status=404,
        )
    items = await _walk(client, f"users/{login}/repos", USER_LISTING_PARAMS, owner)
    return listing_from_items(owner, USER, items)


async def _walk(
    client: GitHubClient, url: str, params: Mapping[str, str | int], owner: str
) -> list[Mapping[str, Any]]:
    """Every item of a paginated listing, following ``rel="next"`` until there is none."""
    items: list[Mapping[str, Any]] = []
    next_url: str | None = url
    first = True
    while next_url is not None:
        response = await client.get(next_url, params=params if first else None, context=owner)
        if not isinstance(response.data, list):
            raise MalformedResponseError(f"{owner}: GET {url} did not answer a JSON array")
        items.extend(response.data)
        next_url, first = response.next_url, False
    return items


def listing_from_items(
    owner: str, owner_type: str, items: Iterable[Mapping[str, Any]]
) -> OwnerListing:
    """Repository JSON objects -> the owner's listing (other owners' repositories dropped)."""
    return owner_listing(owner, owner_type, [parse_listed_repository(i, owner) for i in items])


def owner_listing(
    owner: str, owner_type: str | None, listed: Iterable[ListedRepository]
) -> OwnerListing:
    """The owner's listing: its own repositories, each once (by GitHub id).

    An installation's repositories all belong to its account; the filter keeps a listing honest
    if a caller merges several, and a repository seen on two pages counts once.
    """
    by_id = {r.github_id: r for r in listed if r.key.owner.lower() == owner.lower()}
    return OwnerListing(owner, owner_type, tuple(by_id.values()))
