"""List endpoints: query parsing, GitHub's orderings, page slicing, cached page bodies.

Pages are rendered per (route, repository or commit, query, version) and cached; a PR or run
change bumps the version, so the next request re-sorts the LIVE data - page-number
pagination over a changing ordering then shows the real duplicates and skips
(https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api).
"""

from __future__ import annotations

import gzip
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from prmon_pipeline.fakehub.gzip_pages import gzip_list
from prmon_pipeline.fakehub.model import CheckRun, Commit, PullRequest, Repository
from prmon_pipeline.fakehub.world import World

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
_MONTH = 30 * 86400


class QueryError(Exception):
    """A parameter GitHub rejects with 422 Validation Failed."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"Invalid value for {field}: {value!r}")
        self.field = field
        self.value = value


@dataclass(slots=True)
class Page:
    """A rendered page: body, strong ETag value, page number and last page number."""

    body: bytes
    etag: str
    page: int
    last: int
    gz: bytes | None = None
    items: list[tuple[PullRequest, bytes]] | None = None

    def gzipped(self) -> bytes:
        """The gzip body, built once per page version (from item segments for PR lists)."""
        if self.gz is None:
            if self.items is not None:
                self.gz = gzip_list(self.body, self.items)
            else:
                self.gz = gzip.compress(self.body, compresslevel=1, mtime=0)
        return self.gz


def make_page(body: bytes, page: int, last: int) -> Page:
    """Wrap a body with its ETag (sha256 of the representation, as GitHub's 64-hex tags)."""
    return Page(body, hashlib.sha256(body).hexdigest(), page, last)


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except ValueError:
        return default


def paging(params: dict[str, str]) -> tuple[int, int]:
    """``(per_page, page)``: default 30, clamped to 100 silently; page counts from 1."""
    per_page = _int(params, "per_page", DEFAULT_PER_PAGE)
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    return per_page, max(1, _int(params, "page", 1))


class PageCache:
    """A bounded LRU of rendered pages and sorted orderings."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.pages: OrderedDict[tuple[object, ...], Page] = OrderedDict()
        self.orders: OrderedDict[tuple[object, ...], list[PullRequest]] = OrderedDict()

    def get_page(self, key: tuple[object, ...]) -> Page | None:
        """A cached page, refreshed as most recently used."""
        page = self.pages.get(key)
        if page is not None:
            self.pages.move_to_end(key)
        return page

    def put_page(self, key: tuple[object, ...], page: Page) -> None:
        """Store a page, evicting the least recently used beyond the bound."""
        self.pages[key] = page
        if len(self.pages) > self.entries:
            self.pages.popitem(last=False)

    def clear(self) -> None:
        """Drop everything (tests that swap configs)."""
        self.pages.clear()
        self.orders.clear()


def _pull_order(
    world: World, repo: Repository, *, state: str, sort: str, desc: bool, head: str, base: str
) -> list[PullRequest]:
    prs = list(repo.pulls.values())
    if state != "all":
        prs = [p for p in prs if p.state == state]
    if head:
        owner, _, branch = head.partition(":")
        prs = [
            p
            for p in prs
            if p.head_user is not None
            and p.head_user.login.lower() == owner.lower()
            and p.head_ref == branch
        ]
    if base:
        prs = [p for p in prs if p.base_ref == base]
    if sort == "updated":
        prs.sort(key=lambda p: (p.updated_at, p.number), reverse=desc)
    elif sort == "popularity":
        prs.sort(key=lambda p: (p.comments, p.number), reverse=desc)
    else:
        if sort == "long-running":
            now = world.now_epoch
            prs = [
                p
                for p in prs
                if p.state == "open"
                and p.created_at < now - _MONTH
                and p.updated_at >= now - _MONTH
            ]
        prs.sort(key=lambda p: (p.created_at, p.number), reverse=desc)
    return prs


def pulls_page(world: World, cache: PageCache, repo: Repository, params: dict[str, str]) -> Page:
    """``GET /repos/{o}/{r}/pulls``: state/head/base/sort/direction/per_page/page.

    ``direction`` defaults to ``desc`` for ``sort=created`` (or no sort) and ``asc``
    otherwise, as the docs state (https://docs.github.com/rest/pulls/pulls#list-pull-requests).
    """
    state = params.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise QueryError("state", state)
    sort = params.get("sort", "created")
    if sort not in ("created", "updated", "popularity", "long-running"):
        raise QueryError("sort", sort)
    direction = params.get("direction") or ("desc" if sort == "created" else "asc")
    if direction not in ("asc", "desc"):
        raise QueryError("direction", direction)
    per_page, page = paging(params)
    head, base = params.get("head", ""), params.get("base", "")
    key = ("pulls", repo.id, repo.version, state, sort, direction, head, base, per_page, page)
    found = cache.get_page(key)
    if found is not None:
        return found
    okey = key[:8]
    order = cache.orders.get(okey)
    if order is None:
        order = _pull_order(
            world, repo, state=state, sort=sort, desc=direction == "desc", head=head, base=base
        )
        cache.orders[okey] = order
        if len(cache.orders) > cache.entries:
            cache.orders.popitem(last=False)
    chunk = order[(page - 1) * per_page : page * per_page]
    items = [(p, world.pull_request_bytes(p)) for p in chunk]
    body = b"[" + b",".join(item for _, item in items) + b"]"
    result = make_page(body, page, max(1, -(-len(order) // per_page)))
    result.items = items
    cache.put_page(key, result)
    return result


def latest_per_name(runs: list[CheckRun]) -> list[CheckRun]:
    """The newest run of each name (``runs`` newest first): REST ``filter=latest``."""
    seen: set[str] = set()
    latest = []
    for run in runs:
        if run.name not in seen:
            seen.add(run.name)
            latest.append(run)
    return latest


def _select_runs(world: World, commit: Commit, params: dict[str, str]) -> list[CheckRun]:
    flt = params.get("filter", "latest")
    if flt not in ("latest", "all"):
        raise QueryError("filter", flt)
    status = params.get("status")
    if status is not None and status not in ("queued", "in_progress", "completed"):
        raise QueryError("status", status)
    runs = world.sorted_runs(commit)
    if flt == "latest":
        runs = latest_per_name(runs)
    if status is not None:
        runs = [r for r in runs if r.status == status]
    name = params.get("check_name")
    if name is not None:
        runs = [r for r in runs if r.name == name]
    app_id = params.get("app_id")
    if app_id is not None:
        runs = [r for r in runs if str(r.app.id) == app_id]
    return runs


def check_runs_page(
    world: World,
    cache: PageCache,
    commit: Commit,
    params: dict[str, str],
    suite_id: int | None = None,
) -> Page:
    """``GET .../commits/{ref}/check-runs``: ``{total_count, check_runs}``, newest first.

    ``filter`` defaults to ``latest`` (one run per name, the most recent); ``total_count``
    counts every page (https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference).
    """
    world.materialize(commit)
    per_page, page = paging(params)
    query = tuple(sorted((k, v) for k, v in params.items() if k not in ("page", "per_page")))
    key = ("runs", commit.sha, commit.version, commit.repo.rev, suite_id, query, per_page, page)
    found = cache.get_page(key)
    if found is not None:
        return found
    runs = _select_runs(world, commit, params)
    if suite_id is not None:
        runs = [r for r in runs if r.suite_id == suite_id]
    chunk = runs[(page - 1) * per_page : page * per_page]
    body = (
        b'{"total_count":'
        + str(len(runs)).encode()
        + b',"check_runs":['
        + b",".join(world.run_bytes(r, commit) for r in chunk)
        + b"]}"
    )
    result = make_page(body, page, max(1, -(-len(runs) // per_page)))
    cache.put_page(key, result)
    return result
