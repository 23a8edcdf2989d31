"""URL space: ``/repos/{owner}/{repo}/...`` and its ``/repositories/{id}/...`` alias.

GitHub emits ``/repositories/{id}`` URLs in ``Link`` and ``Location`` headers, so both forms
must reach the same handlers. Routing is a split of the path rather than a regex table: it
runs on every request of the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode


@dataclass(slots=True)
class Target:
    """A parsed request path: route name, repository reference and the route's argument."""

    route: str
    owner_repo: str | None = None
    repo_id: int | None = None
    rest: str = ""
    arg: str = ""


def parse_path(path: str) -> Target:
    """Route a path (prefix already removed); unknown shapes get route ``unknown``."""
    parts = [p for p in path.split("/") if p]
    top = _top_level(parts)
    if top is not None:
        return top
    if len(parts) >= 3 and parts[0] == "repos":
        target = Target("unknown", owner_repo=f"{parts[1]}/{parts[2]}")
        rest = parts[3:]
    elif len(parts) >= 2 and parts[0] == "repositories" and parts[1].isdigit():
        target = Target("unknown", repo_id=int(parts[1]))
        rest = parts[2:]
    else:
        return Target("unknown")
    target.rest = "/".join(rest)
    target.route, target.arg = _repository_route(rest)
    return target


def _top_level(parts: list[str]) -> Target | None:
    """Routes outside a repository: the rate limit, the App's, the owners' (None: not one)."""
    if parts == ["rate_limit"]:
        return Target("rate_limit")
    app_route = _app_route(parts)
    if app_route is not None:
        return app_route
    if parts and parts[0] in OWNER_PREFIXES and len(parts) in (2, 3):
        return _owner_target(parts)
    return None


REPOSITORY_ROUTES = {(): "repo", ("pulls",): "pulls", ("installation",): "repo_installation"}
"""Fixed paths below ``/repos/{owner}/{repo}``."""
NUMBERED_ROUTES = {"pulls": "pull", "check-runs": "check_run"}
"""``{prefix}/{number}`` paths below a repository."""


def _repository_route(rest: list[str]) -> tuple[str, str]:
    """The route and its argument for the path below ``/repos/{owner}/{repo}``."""
    fixed = REPOSITORY_ROUTES.get(tuple(rest))
    if fixed is not None:
        return fixed, ""
    if len(rest) == 2 and rest[0] in NUMBERED_ROUTES and rest[1].isdigit():
        return NUMBERED_ROUTES[rest[0]], rest[1]
    if len(rest) >= 3 and rest[0] == "commits" and rest[-1] == "check-runs":
        return "check_runs", "/".join(rest[1:-1])
    if len(rest) == 3 and rest[0] == "check-suites" and rest[2] == "check-runs":
        return "suite_check_runs", rest[1]
    return "unknown", ""


OWNER_PREFIXES = {"orgs": "org", "users": "user", "organizations": "org", "user": "user"}
"""``/orgs/{login}``, ``/users/{login}`` and the id forms GitHub puts in ``Link`` headers of
owner listings (``/organizations/{id}/repos``, ``/user/{id}/repos``)."""
OWNER_ROUTES = frozenset({"org", "user", "org_repos", "user_repos"})


def _owner_target(parts: list[str]) -> Target:
    """An account or its repository listing; the id forms only for the listing."""
    by_id = parts[0] in ("organizations", "user")
    if by_id and not (parts[1].isdigit() and len(parts) == 3):
        return Target("unknown")
    if len(parts) == 3 and parts[2] != "repos":
        return Target("unknown")
    route = OWNER_PREFIXES[parts[0]] + ("_repos" if len(parts) == 3 else "")
    return Target(route, repo_id=int(parts[1]) if by_id else None, arg=parts[1])


def _app_route(parts: list[str]) -> Target | None:
    """The GitHub App routes outside ``/repos`` (see ``fakehub.apps``)."""
    if len(parts) == 3 and parts[0] in ("orgs", "users") and parts[2] == "installation":
        return Target(f"{parts[0][:-1]}_installation", arg=parts[1])
    if len(parts) == 4 and parts[:2] == ["app", "installations"] and parts[3] == "access_tokens":
        return Target("access_tokens", arg=parts[2])
    if parts == ["installation", "repositories"]:
        return Target("installation_repositories")
    return None


def query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The query string as ordered pairs (Link URLs keep the caller's order)."""
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


def link_header(
    base: str, path: str, pairs: list[tuple[str, str]], page: int, last: int
) -> str | None:
    """GitHub's ``Link``: rels in the order prev, next, last, first; absent on a single page.

    ``page`` replaces the caller's ``page`` in place or is appended, keeping every other
    parameter (observed: ``?filter=latest&per_page=1&page=2``).
    """
    if last <= 1 and page <= 1:
        return None

    def url(number: int) -> str:
        out, seen = [], False
        for key, value in pairs:
            if key == "page":
                if not seen:
                    out.append(("page", str(number)))
                    seen = True
                continue
            out.append((key, value))
        if not seen:
            out.append(("page", str(number)))
        return f"<{base}{path}?{urlencode(out)}>"

    rels = []
    if page > 1:
        rels.append(f'{url(page - 1)}; rel="prev"')
    if page < last:
        rels.append(f'{url(page + 1)}; rel="next"')
        rels.append(f'{url(last)}; rel="last"')
    if page > 1:
        rels.append(f'{url(1)}; rel="first"')
    return ", ".join(rels)
