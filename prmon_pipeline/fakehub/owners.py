"""Accounts and their repository listings: ``/orgs/{org}``, ``/users/{user}`` and their ``/repos``.

As on GitHub: ``/orgs/{login}/repos`` is 404 for a user account, ``/users/{login}/repos`` serves
organisations too; items are ``minimal-repository`` objects; ``per_page`` up to 100 (default
30); ``Link`` URLs name the account by id (``/organizations/{id}/repos``, ``/user/{id}/repos``),
so a client that builds page URLs itself instead of following them is caught.
https://docs.github.com/rest/repos/repos#list-organization-repositories
https://docs.github.com/rest/repos/repos#list-repositories-for-a-user
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import orjson

from prmon_pipeline.fakehub.model import Repository, User
from prmon_pipeline.fakehub.render_repository import repo_json, user_json
from prmon_pipeline.fakehub.responses import Result, not_found
from prmon_pipeline.fakehub.routes import Target, link_header
from prmon_pipeline.fakehub.world import World

ORGANIZATION = "Organization"
_SORT_KEYS: dict[str, Callable[[Repository], tuple[object, ...]]] = {
    "created": lambda r: (r.created_at, r.id),
    "updated": lambda r: (r.pushed_at, r.id),
    "pushed": lambda r: (r.pushed_at, r.id),
    "full_name": lambda r: (r.full_name.lower(), r.id),
}
_TYPE_FILTERS: dict[str, Callable[[Repository], bool]] = {
    "forks": lambda r: r.fork,
    "sources": lambda r: not r.fork,
}


Pairs = list[tuple[str, str]]


def handle_owner(world: World, target: Target, *, base: str, pairs: Pairs) -> Result:
    """Answer one owner route (``routes.OWNER_ROUTES``)."""
    with world.lock:
        account = world.account(login=None if target.repo_id else target.arg, ident=target.repo_id)
        if account is None or (target.route.startswith("org") and account.type != ORGANIZATION):
            return not_found()
        if target.route in ("org", "user"):
            return _json_result(_account_json(world, account))
        return _listing(world, account, target, base, pairs)


def _account_json(world: World, account: User) -> dict[str, object]:
    """``GET /users/{login}`` (``public-user``) or ``GET /orgs/{org}``: minimal, GitHub-shaped."""
    doc: dict[str, object] = dict(user_json(account, world.cfg.api_url, world.cfg.html_url))
    doc.update(
        {
            "user_view_type": "public",
            "name": account.login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "public_repos": len(world.owned_repositories(account)),
            "public_gists": 0,
            "followers": account.id % 89,
            "following": 0,
            "created_at": "2015-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
        }
    )
    return doc


def _listing(world: World, account: User, target: Target, base: str, pairs: Pairs) -> Result:
    params = dict(pairs)
    sort = params.get("sort", "created" if target.route == "org_repos" else "full_name")
    key = _SORT_KEYS.get(sort, _SORT_KEYS["created"])
    direction = params.get("direction", "asc" if sort == "full_name" else "desc")
    keep = _TYPE_FILTERS.get(params.get("type", "all"), _any_repository)
    repositories: list[Repository] = sorted(
        (r for r in world.owned_repositories(account) if keep(r)),
        key=key,
        reverse=direction == "desc",
    )
    per_page = _number(params.get("per_page"), 30, 100)
    page = _number(params.get("page"), 1, 10**9)
    last = max(1, -(-len(repositories) // per_page))
    chunk = repositories[(page - 1) * per_page : page * per_page]
    api, web = world.cfg.api_url, world.cfg.html_url
    result = _json_result([repo_json(r, api, web) for r in chunk])
    prefix = "organizations" if target.route == "org_repos" else "user"
    link = link_header(base, f"/{prefix}/{account.id}/repos", pairs, page, last)
    if link is not None:
        result.headers.append((b"link", link.encode()))
    return result


def _any_repository(repository: Repository) -> bool:
    return True


def _number(text: str | None, default: int, cap: int) -> int:
    """A positive integer parameter; GitHub ignores what it cannot read and caps ``per_page``."""
    if text is None or not text.isdigit() or int(text) < 1:
        return default
    return min(int(text), cap)


def _json_result(doc: object) -> Result:
    body = orjson.dumps(doc)
    return Result(200, body, etag=hashlib.sha256(body).hexdigest())
