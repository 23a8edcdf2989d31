"""Route handlers: world lookups -> :class:`Result` (body, ETag, Link, Location).

They run under the world lock so a concurrent ``advance`` never shows a half-applied event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from prmon_pipeline.fakehub import checks, pages
from prmon_pipeline.fakehub.model import Commit, Repository
from prmon_pipeline.fakehub.pages import Page, PageCache, QueryError
from prmon_pipeline.fakehub.ratelimit import Bucket
from prmon_pipeline.fakehub.render import pr_full
from prmon_pipeline.fakehub.render_repository import full_repo_json
from prmon_pipeline.fakehub.responses import (
    Result,
    http_date,
    moved,
    no_commit,
    not_found,
    validation_failed,
)
from prmon_pipeline.fakehub.routes import Target, link_header
from prmon_pipeline.fakehub.world import World


def _etag(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


Pairs = list[tuple[str, str]]


@dataclass(slots=True)
class RouteRequest:
    """The parts of a request a route handler reads; ``page`` is filled by list routes."""

    target: Target
    base: str
    pairs: Pairs
    params: dict[str, str]
    page: Page | None = None


def _page_result(page: Page, req: RouteRequest, path: str) -> Result:
    req.page = page
    result = Result(200, page.body, etag=page.etag)
    link = link_header(req.base, path, req.pairs, page.page, page.last)
    if link is not None:
        result.headers.append((b"link", link.encode()))
    result.gz = page.gz
    return result


def resolve_repo(world: World, target: Target, base: str, query: bytes) -> Repository | Result:
    """The addressed repository, a 301 for an old name, or a 404."""
    if target.repo_id is not None:
        repo = world.repository_by_id(target.repo_id)
        return not_found() if repo is None else repo
    assert target.owner_repo is not None
    repo = world.find_repository(target.owner_repo)
    if repo is not None:
        return repo
    moved_id = world.moved_repository_id(target.owner_repo)
    if moved_id is None:
        return not_found()
    location = f"{base}/repositories/{moved_id}"
    if target.rest:
        location += f"/{target.rest}"
    if query:
        location += "?" + query.decode("latin-1")
    return moved(location)


def _pulls(world: World, cache: PageCache, repo: Repository, req: RouteRequest) -> Result:
    page = pages.pulls_page(world, cache, repo, req.params)
    return _page_result(page, req, f"/repositories/{repo.id}/pulls")


def _check_runs(world: World, cache: PageCache, repo: Repository, req: RouteRequest) -> Result:
    ref = req.target.arg
    commit = world.commit(repo, ref)
    if commit is None:
        return no_commit(ref)
    page = pages.check_runs_page(world, cache, commit, req.params)
    return _page_result(page, req, f"/repositories/{repo.id}/commits/{ref}/check-runs")


def _suite_check_runs(
    world: World, cache: PageCache, repo: Repository, req: RouteRequest
) -> Result:
    """``GET .../check-suites/{id}/check-runs``: same envelope, runs of one suite."""
    ident = int(req.target.arg) if req.target.arg.isdigit() else -1
    commit = commit_by_serial(world, (ident - checks.SUITE_ID_BASE) // 16)
    if commit is None or commit.repo is not repo:
        return not_found()
    if all(r.suite_id != ident for r in world.materialize(commit)):
        return not_found()
    page = pages.check_runs_page(world, cache, commit, req.params, suite_id=ident)
    return _page_result(page, req, f"/repositories/{repo.id}/check-suites/{ident}/check-runs")


def commit_by_serial(world: World, serial: int) -> Commit | None:
    """Commit SHAs are ``sha1(f"{seed}:{serial}")``, so ids that embed a serial find it."""
    sha = hashlib.sha1(f"{world.cfg.seed}:{serial}".encode()).hexdigest()  # noqa: S324
    return world.pop.commits.get(sha)


def _repo(world: World, cache: PageCache, repo: Repository, req: RouteRequest) -> Result:
    body = orjson.dumps(full_repo_json(repo, world.cfg.api_url, world.cfg.html_url))
    result = Result(200, body, etag=_etag(body))
    result.headers.append((b"last-modified", http_date(repo.pushed_at)))
    return result


def _pull(world: World, cache: PageCache, repo: Repository, req: RouteRequest) -> Result:
    pr = repo.pulls.get(int(req.target.arg))
    if pr is None:
        return not_found()
    body = orjson.dumps(pr_full(pr, world.cfg.api_url, world.cfg.html_url))
    result = Result(200, body, etag=_etag(body))
    result.headers.append((b"last-modified", http_date(pr.updated_at)))
    return result


def _check_run_route(world: World, cache: PageCache, repo: Repository, req: RouteRequest) -> Result:
    return _check_run(world, repo, int(req.target.arg))


_HANDLERS: dict[str, Callable[[World, PageCache, Repository, RouteRequest], Result]] = {
    "pulls": _pulls,
    "check_runs": _check_runs,
    "repo": _repo,
    "pull": _pull,
    "check_run": _check_run_route,
    "suite_check_runs": _suite_check_runs,
}


def handle(
    world: World, cache: PageCache, target: Target, *, base: str, query: bytes, pairs: Pairs
) -> tuple[Result, Page | None]:
    """Dispatch a repository route; the Page comes back so its gzip body is cached on it."""
    with world.lock:
        found = resolve_repo(world, target, base, query)
        if isinstance(found, Result):
            return found, None
        req = RouteRequest(target, base, pairs, dict(pairs))
        try:
            result = _HANDLERS[target.route](world, cache, found, req)
        except QueryError as exc:
            resource = "PullRequest" if target.route == "pulls" else "CheckRun"
            return validation_failed(resource, exc.field), None
        return result, req.page


def _check_run(world: World, repo: Repository, ident: int) -> Result:
    """``GET .../check-runs/{id}``: the commit is found from the id block the run lives in."""
    commit = commit_by_serial(world, (ident - checks.RUN_ID_BASE) // checks.RUNS_PER_COMMIT_CAP)
    if commit is None or commit.repo is not repo:
        return not_found()
    for run in world.materialize(commit):
        if run.id == ident:
            body = world.run_bytes(run, commit)
            return Result(200, body, etag=_etag(body))
    return not_found()


def _pool_json(bucket: Bucket) -> dict[str, int]:
    return {
        "limit": bucket.limit,
        "used": bucket.used,
        "remaining": bucket.remaining,
        "reset": bucket.reset,
    }


def rate_limit_body(bucket: Bucket, graphql_bucket: Bucket | None = None) -> bytes:
    """``GET /rate_limit`` (``rate-limit-overview``); ``rate`` mirrors ``resources.core``;
    ``resources.graphql`` is the separate GraphQL points pool when given."""
    core = _pool_json(bucket)
    other = {"limit": 30, "used": 0, "remaining": 30, "reset": bucket.reset}
    graphql = {"limit": bucket.limit, "used": 0, "remaining": bucket.limit, "reset": bucket.reset}
    if graphql_bucket is not None:
        graphql = _pool_json(graphql_bucket)
    return orjson.dumps(
        {
            "resources": {"core": core, "search": other, "graphql": graphql},
            "rate": core,
        }
    )
