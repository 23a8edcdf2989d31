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
    if parts == ["rate_limit"]:
        return Target("rate_limit")
    app_route = _app_route(parts)
    if app_route is not None:
        return app_route
    if len(parts) >= 3 and parts[0] == "repos":
        target = Target("unknown", owner_repo=f"{parts[1]}/{parts[2]}")
        rest = parts[3:]
    elif len(parts) >= 2 and parts[0] == "repositories" and parts[1].isdigit():
        target = Target("unknown", repo_id=int(parts[1]))
        rest = parts[2:]
    else:
        return Target("unknown")
    target.rest = "/".join(rest)
    if not rest:
        target.route = "repo"
    elif rest == ["pulls"]:
        target.route = "pulls"
    elif len(rest) == 2 and rest[0] == "pulls" and rest[1].isdigit():
        target.route, target.arg = "pull", rest[1]
    elif len(rest) >= 3 and rest[0] == "commits" and rest[-1] == "check-runs":
        target.route, target.arg = "check_runs", "/".join(rest[1:-1])
    elif len(rest) == 3 and rest[0] == "check-suites" and rest[2] == "check-runs":
        target.route, target.arg = "suite_check_runs", rest[1]
    elif len(rest) == 2 and rest[0] == "check-runs" and rest[1].isdigit():
        target.route, target.arg = "check_run", rest[1]
    elif rest == ["installation"]:
        target.route = "repo_installation"
    return target


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
