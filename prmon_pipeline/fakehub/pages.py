"""List endpoints: query parsing, GitHub's orderings, page slicing, cached page bodies.

Pages are rendered per (route, repository or commit, query, version) and cached; a PR or run
change bumps the version, so the next request re-sorts the LIVE data - page-number
pagination over a changing ordering then shows the real duplicates and skips
(https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api).
A page holds its items' renderings, not a copy of their bytes, and the cache is bounded in bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import zlib
from collections import OrderedDict
from typing import TypeVar

from prmon_pipeline.fakehub.gzip_pages import gzip_list
from prmon_pipeline.fakehub.item_cache import Rendered
from prmon_pipeline.fakehub.model import CheckRun, Commit, PullRequest, Repository
from prmon_pipeline.fakehub.responses import if_none_match
from prmon_pipeline.fakehub.world import World

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
_MONTH = 30 * 86400
V = TypeVar("V")


class QueryError(Exception):
    """A parameter GitHub rejects with 422 Validation Failed."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"Invalid value for {field}: {value!r}")
        self.field = field
        self.value = value


PAGE_OVERHEAD = 300
"""Bytes a cached page costs beyond its items and gzip body (object, list, key), for budgets."""
Tag = tuple[str, int, int]
"""What is remembered of a page: ETag, CRC-32 of the body, last page number."""


class Page:
    """A rendered page: ETag, page numbers and the items it consists of, bytes built on demand.

    The identity body is ``prefix + b",".join(items) + suffix``; it is joined only when read
    (a 304 or a gzip answer never needs it) and then kept like the gzip body, both counted in
    the page's cost. The items are immutable renderings, so a page stays
    consistent however the world moves on. ``segmented`` pages (PR lists) gzip from the items'
    deflate segments; others compress their body once. The ETag is the sha256 of the body, as
    GitHub's 64-hex tags, so a page rendered again after an eviction has the same tag.
    """

    __slots__ = (
        "bodiless",
        "cost",
        "crc",
        "etag",
        "gz",
        "identity",
        "items",
        "key",
        "last",
        "length",
        "owner",
        "page",
        "prefix",
        "segmented",
        "suffix",
    )

    def __init__(
        self,
        items: list[Rendered],
        page: int,
        last: int,
        *,
        prefix: bytes,
        suffix: bytes,
        segmented: bool,
        tag: Tag | None = None,
    ) -> None:
        self.items, self.page, self.last = items, page, last
        self.bodiless = False
        self.prefix, self.suffix, self.segmented = prefix, suffix, segmented
        self.length = len(prefix) + len(suffix) + max(0, len(items) - 1)
        self.length += sum(item.length for item in items)
        if tag is None and not segmented:  # small pages: one join, no CRC (gzip compresses)
            tag = (hashlib.sha256(b"".join(self._parts())).hexdigest(), 0, last)
        elif tag is None:
            digest, crc = hashlib.sha256(), 0
            for part in self._parts():
                digest.update(part)
                crc = zlib.crc32(part, crc)
            tag = (digest.hexdigest(), crc, last)
        self.etag, self.crc, _ = tag
        self.gz: bytes | None = None
        self.identity: bytes | None = None
        self.key: tuple[object, ...] = ()
        self.owner: PageCache | None = None
        self.cost = PAGE_OVERHEAD + 8 * len(items) + sum(item.cost for item in items)

    def _parts(self) -> list[bytes]:
        parts = [self.prefix]
        for index, item in enumerate(self.items):
            if index:
                parts.append(b",")
            parts.extend(item.parts)
        parts.append(self.suffix)
        return parts

    @classmethod
    def revalidated(cls, tag: Tag, page: int) -> Page:
        """A page known only by its remembered tag, for a request that already holds it (the
        answer is a 304, which reads no body)."""
        found = cls([], page, tag[2], prefix=b"", suffix=b"", segmented=False, tag=tag)
        found.bodiless = True
        return found

    @property
    def body(self) -> bytes:
        """The identity body, joined when first read and then kept (within the cache's budget)."""
        body = self.identity
        if body is None:
            if self.bodiless:
                raise RuntimeError("a revalidated page has no body; it answers 304")
            body = b"".join(self._parts())
            self._keep(identity=body)
        return body

    def _keep(self, *, gz: bytes | None = None, identity: bytes | None = None) -> None:
        owner = self.owner
        if owner is None:
            self.gz, self.identity = gz or self.gz, identity or self.identity
        else:
            owner.attach(self, gz=gz, identity=identity)

    def gzipped(self) -> bytes:
        """The gzip body, built once per page version (from item segments for PR lists)."""
        gz = self.gz
        if gz is None:
            if self.segmented:
                gz = gzip_list(self.items, self.crc, self.length)
            else:
                body = self.identity or b"".join(self._parts())
                gz = gzip.compress(body, compresslevel=1, mtime=0)
            self._keep(gz=gz)
        return gz


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
    """Rendered pages under a byte budget (LRU), their ETags, and sorted orderings.

    A page costs its items (counted again even when the world's item cache holds them too, so
    pages pinning evicted items stay bounded), the bodies it built and a fixed overhead; the pages
    together stay within ``max_bytes``. ``tags`` remembers the :data:`Tag` of many more pages
    than fit (``tag_entries``): a revalidation that matches one is answered without rendering,
    and a page rendered again under the same key (same bytes) skips hashing.
    ``orders`` keeps up to ``entries`` sorted PR lists. Route handlers run under the world's
    lock but a page's gzip body is built after it, so the cache has a lock of its own.
    """

    def __init__(self, max_bytes: int, *, entries: int = 4096, tag_entries: int = 65536) -> None:
        self.max_bytes = max_bytes
        self.entries = entries
        self.tag_entries = tag_entries
        self.used = 0
        self.evictions = 0
        self.pages: OrderedDict[tuple[object, ...], Page] = OrderedDict()
        self.tags: OrderedDict[tuple[object, ...], Tag] = OrderedDict()
        self.orders: OrderedDict[tuple[object, ...], list[PullRequest]] = OrderedDict()
        self.lock = threading.Lock()

    def get_page(self, key: tuple[object, ...]) -> Page | None:
        """A cached page, refreshed as most recently used."""
        with self.lock:
            return _touch(self.pages, key)

    def get_tag(self, key: tuple[object, ...]) -> Tag | None:
        """``(etag, crc, last)`` of the page last rendered under ``key``, if remembered."""
        with self.lock:
            return _touch(self.tags, key)

    def put_page(self, key: tuple[object, ...], page: Page) -> None:
        """Store a page and its tag, evicting the least recently used beyond the bounds."""
        with self.lock:
            old = self.pages.pop(key, None)
            if old is not None:
                self.used -= old.cost
                old.owner = None
            page.key, page.owner = key, self
            self.pages[key] = page
            self.used += page.cost
            self.tags[key] = (page.etag, page.crc, page.last)
            self.tags.move_to_end(key)
            if len(self.tags) > self.tag_entries:
                self.tags.popitem(last=False)
            self._evict()

    def attach(self, page: Page, *, gz: bytes | None, identity: bytes | None) -> None:
        """Keep a body of a page built after the page was stored, and account for it."""
        with self.lock:
            added = 0
            if gz is not None and page.gz is None:
                page.gz, added = gz, added + len(gz)
            if identity is not None and page.identity is None:
                page.identity, added = identity, added + len(identity)
            page.cost += added
            if added and page.owner is self and self.pages.get(page.key) is page:
                self.used += added
                self._evict()

    def _evict(self) -> None:
        while self.used > self.max_bytes and self.pages:
            _, page = self.pages.popitem(last=False)
            self.used -= page.cost
            page.owner = None
            self.evictions += 1

    def put_order(self, key: tuple[object, ...], order: list[PullRequest]) -> None:
        """Store a sorted PR list, evicting the oldest beyond ``entries``."""
        self.orders[key] = order
        if len(self.orders) > self.entries:
            self.orders.popitem(last=False)

    def clear(self) -> None:
        """Drop everything (tests that swap configs)."""
        with self.lock:
            for page in self.pages.values():
                page.owner = None
            self.pages.clear()
            self.tags.clear()
            self.orders.clear()
            self.used = 0


def _touch(entries: OrderedDict[tuple[object, ...], V], key: tuple[object, ...]) -> V | None:
    """An LRU entry, refreshed as most recently used."""
    found = entries.get(key)
    if found is not None:
        entries.move_to_end(key)
    return found


def _cached(
    cache: PageCache, key: tuple[object, ...], page: int, revalidating: bytes | None
) -> Page | None:
    """The cached page, or a bodiless one when ``If-None-Match`` holds its remembered ETag."""
    found = cache.get_page(key)
    if found is None and revalidating is not None:
        tag = cache.get_tag(key)
        if tag is not None and if_none_match(revalidating, tag[0]):
            return Page.revalidated(tag, page)
    return found


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


def pulls_page(
    world: World,
    cache: PageCache,
    repo: Repository,
    params: dict[str, str],
    revalidating: bytes | None = None,
) -> Page:
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
    found = _cached(cache, key, page, revalidating)
    if found is not None:
        return found
    okey = key[:8]
    order = cache.orders.get(okey)
    if order is None:
        order = _pull_order(
            world, repo, state=state, sort=sort, desc=direction == "desc", head=head, base=base
        )
        cache.put_order(okey, order)
    chunk = order[(page - 1) * per_page : page * per_page]
    result = Page(
        [world.pull_request_item(p) for p in chunk],
        page,
        max(1, -(-len(order) // per_page)),
        prefix=b"[",
        suffix=b"]",
        segmented=True,
        tag=cache.get_tag(key),
    )
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
    *,
    revalidating: bytes | None = None,
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
    found = _cached(cache, key, page, revalidating)
    if found is not None:
        return found
    runs = _select_runs(world, commit, params)
    if suite_id is not None:
        runs = [r for r in runs if r.suite_id == suite_id]
    chunk = runs[(page - 1) * per_page : page * per_page]
    result = Page(
        [world.run_item(r, commit) for r in chunk],
        page,
        max(1, -(-len(runs) // per_page)),
        prefix=b'{"total_count":' + str(len(runs)).encode() + b',"check_runs":[',
        suffix=b"]}",
        segmented=False,
        tag=cache.get_tag(key),
    )
    cache.put_page(key, result)
    return result
