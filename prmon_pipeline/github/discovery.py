"""Discovery of one repository: PRs (incremental, full or single) and their check runs.

The requests live here; the decisions (where to stop, which SHAs, what to store) are pure
functions in ``core.discovery_plan``. The output is the input of the changeset stage: an Arrow
table of PRs seen, an Arrow table of check runs seen, the new cursors and the costs.

Consistency under a live ordering: list pulls is page-number pagination over ``updated_at
desc``, so a PR updated *during* the walk jumps to page 1 and may be skipped. After the walk,
page 1 is asked again with the ETag it had: a 304 (free) proves nothing moved to the top;
otherwise the top is walked again down to the newest ``updated_at`` already seen.

Errors of one item do not fail the repository: a 404/422 for one SHA's check runs (GitHub's
"No commit found for SHA" for a commit gone after a force-push) or a 404 for the one PR of a
single-mode sync becomes an :class:`ItemFailure`; everything else is stored, and the SHA is
backed off (``core.discovery_plan.check_run_retry_delay``). Errors of the repository (401,
403, a 404 of the list or the repository, rate limits, transient errors after retries) are
raised as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc

from prmon_pipeline.core.costs import ApiCost
from prmon_pipeline.core.discovery_plan import (
    CheckRunTarget,
    KnownPullRequest,
    compact,
    decode_check_run_validators,
    encode_check_run_validators,
    graphql_read_marker,
    latest_per_number,
    long_running_shas,
    newest_updated_at,
    next_check_run_failure,
    page_reaches_cutoff,
    plan_check_run_targets,
    prune_check_run_etags,
    prune_check_run_failures,
    rest_validator,
    route_check_run_targets,
    walk_cutoff,
)
from prmon_pipeline.core.errors import (
    ConfigurationError,
    GitHubError,
    MalformedResponseError,
    RateLimitedError,
    RepositoryReplacedError,
    TransientGitHubError,
)
from prmon_pipeline.core.github_json import parse_check_runs, parse_pull_requests
from prmon_pipeline.core.models import ApiMode, ItemFailure, SyncCursors, SyncMode
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA
from prmon_pipeline.github.client import GitHubClient, GitHubResponse, RequestTally
from prmon_pipeline.github.graphql import (
    GraphQLCheckReader,
    GraphQLUnavailableError,
    graphql_reader_for,
)
from prmon_pipeline.github.graphql_requests import GraphQLChecks

PULLS_PARAMS: Mapping[str, str | int] = {
    "state": "all",
    "sort": "updated",
    "direction": "desc",
    "per_page": 100,
}
CHECK_RUNS_PARAMS: Mapping[str, str | int] = {"filter": "all", "per_page": 100}
MAX_RECHECKS = 5
"""Re-reads of page 1 after a walk; each is a free 304 unless PRs changed during the walk."""
COMPACT_ROWS = 5_000
"""Pages and per-SHA check-run tables are compacted into one table every this many rows..."""
COMPACT_TABLES = 64
"""...or every this many tables, whichever comes first.

The cost of a small table is its count, not its rows: each carries a dozen arrays of Arrow and
Python bookkeeping, ~15 KB for one SHA's 8 check runs (1 KB of data). A cold sync's repository
of 1,000 SHAs and 4,500 runs stayed under ``COMPACT_ROWS`` and held ~560 such tables until the
end, ~14 MB instead of 1; with four repositories at once that was ~45 MB of the cold sync's peak
RSS. Compacting every 64 tables keeps it at ~1 MB for the price of one extra copy of 1 KB rows.
"""
SLICE_PULL_REQUESTS = 10_000
"""With a slice sink, a walk hands its PRs and their check runs on every this many PRs."""
ITEM_STATUSES = frozenset({404, 422})
"""Statuses that, for one SHA's check runs or one PR's GET, mean "this item is gone"."""

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiscoveryStats:
    """What one repository's discovery read, besides its :class:`ApiCost`."""

    cost: ApiCost
    pull_request_pages: int
    pull_requests: int
    check_run_shas: int
    check_run_shas_unchanged: int
    check_runs: int
    item_failures: int = 0
    """Items GitHub refused (see :attr:`DiscoveryResult.item_failures`)."""


@dataclass(frozen=True)
class DiscoveryResult:
    """PRs and check runs seen in one repository, plus the cursors to commit with them.

    ``pulls_unchanged``: page 1 of the PR list answered 304 (nothing was updated). In ``full``
    mode ``pull_requests`` is the complete list (numbers absent from it were deleted).
    ``renamed_to``: the repository answered 301 and is now called this.
    ``item_failures``: items GitHub refused in this discovery (their rows are not in the tables,
    the repository did not fail); ``cursors.check_run_failures`` holds their back-off.
    ``github_repository_id``: GitHub's id of the repository, when a response showed it (the
    first PR of the first non-304 list page, the single PR, or the repository after a 301).
    """

    repository: str
    mode: SyncMode
    pull_requests: pa.Table
    check_runs: pa.Table
    cursors: SyncCursors
    stats: DiscoveryStats
    renamed_to: str | None
    pulls_unchanged: bool
    item_failures: tuple[ItemFailure, ...] = ()
    github_repository_id: int | None = None


class _Tables:
    """Tables of one schema gathered page by page, compacted every ``COMPACT_ROWS`` rows or
    ``COMPACT_TABLES`` tables."""

    def __init__(self) -> None:
        self.compacted: list[pa.Table] = []
        self.fresh: list[pa.Table] = []
        self.fresh_rows = 0

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.compacted) + self.fresh_rows

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.fresh.append(table)
        self.fresh_rows += table.num_rows
        if self.fresh_rows >= COMPACT_ROWS or len(self.fresh) >= COMPACT_TABLES:
            self.compacted.append(compact(self.fresh))
            self.fresh, self.fresh_rows = [], 0

    def tables(self) -> list[pa.Table]:
        return [*self.compacted, *self.fresh]


@dataclass(frozen=True)
class DiscoverySlice:
    """PRs of a long walk and their check runs, handed on before the walk ends.

    A first sync of a 100,000-PR repository holds ~200 MB of PRs in Arrow, and every later stage
    copies some of it; a caller that can store slices as they come (``sync.py``) keeps only one
    slice in memory. The final slice is the :class:`DiscoveryResult` itself, whose cursors cover
    every slice: they must only be stored together with all of them.
    """

    pull_requests: pa.Table
    check_runs: pa.Table


SliceSink = Callable[[DiscoverySlice], Awaitable[None]]


@dataclass
class _Seen:
    """What every slice of a walk adds to the cursors and the stats."""

    fetched: list[_ChecksFetched] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    heads: set[str] = field(default_factory=set)
    numbers: set[int] = field(default_factory=set)
    pull_requests: int = 0
    check_runs: int = 0
    check_run_shas: int = 0


@dataclass
class _Walk:
    pages: _Tables
    first_etag: str | None
    unchanged: bool
    moved: bool
    page_count: int
    newest: datetime | None = None
    repository_id: int | None = None
    failure: ItemFailure | None = None
    """Single mode: the PR itself answered 404 (nothing to store)."""

    def add(self, page: pa.Table) -> None:
        self.pages.add(page)
        self.page_count += 1
        top = newest_updated_at(page)
        if top is not None and (self.newest is None or top > self.newest):
            self.newest = top


async def discover_repository(
    client: GitHubClient,
    repository: str,
    cursors: SyncCursors,
    known: Mapping[int, KnownPullRequest],
    *,
    mode: SyncMode = "incremental",
    pr_number: int | None = None,
    now: datetime,
    overlap: timedelta = timedelta(minutes=5),
    check_runs_lookback: timedelta | None = timedelta(days=30),
    refresh_open_checks: bool = True,
    on_slice: SliceSink | None = None,
    slice_rows: int = SLICE_PULL_REQUESTS,
    expected_repository_id: int | None = None,
    api: ApiMode = "rest",
) -> DiscoveryResult:
    """Discover one repository's changed PRs and check runs since ``cursors``.

    ``known`` is the warehouse's view (head SHA, state, whether stored checks are pending);
    ``now`` bounds the check-run look-back for closed PRs (None = no bound) and dates the
    back-off of SHAs GitHub refuses. With ``on_slice``
    (not in full mode, which must see every PR at once to find deleted ones) a walk longer than
    ``slice_rows`` PRs hands each slice on as it is complete; the result is then the last slice.
    With ``expected_repository_id`` (GitHub's id of the repository mirrored so far), a first
    page showing another id raises :class:`RepositoryReplacedError` before any further request.
    ``api`` says how check runs are read (:data:`~prmon_pipeline.core.models.ApiMode`); when
    it may be GraphQL, the discovery is announced to the client's reader for its whole run, so
    that a query the reader is about to send waits for this repository's SHAs.
    """
    name = str(parse_repo_key(repository))
    if mode == "single" and pr_number is None:
        raise ConfigurationError(f"{name}: single mode needs a pull request number")
    if on_slice is not None and mode == "full":
        raise ConfigurationError(f"{name}: a full sync cannot be handed on in slices")
    walking: AbstractContextManager[None] = (
        graphql_reader_for(client).walking() if api != "rest" else nullcontext()
    )
    with walking:
        tally = RequestTally()
        seen = _Seen()

        async def check_runs_of(pull_requests: pa.Table, current: str) -> pa.Table:
            targets = plan_check_run_targets(
                pull_requests,
                known,
                mode,
                now=now,
                lookback=check_runs_lookback,
                refresh_open=refresh_open_checks,
                fetched_shas=cursors.check_run_etags.keys(),
                changed_since=cursors.pulls_watermark if mode == "incremental" else None,
                failures=cursors.check_run_failures,
            )
            runs = _Tables()
            fetched, failures = await _read_check_runs(
                client, current, targets, cursors, now=now, tally=tally, runs=runs, api=api
            )
            check_runs = _concat_runs(runs.tables())
            seen.fetched += fetched
            seen.failures += failures
            seen.heads.update(str(h) for h in pull_requests.column("head_sha").to_pylist())
            seen.numbers.update(int(str(n)) for n in pull_requests.column("number").to_pylist())
            seen.pull_requests += pull_requests.num_rows
            seen.check_runs += check_runs.num_rows
            seen.check_run_shas += len(targets)
            return check_runs

        async def hand_on(walk: _Walk) -> None:
            assert on_slice is not None
            pull_requests = latest_per_number(walk.pages.tables())
            walk.pages = _Tables()
            await on_slice(DiscoverySlice(pull_requests, await check_runs_of(pull_requests, name)))

        if mode == "single":
            walk = await _fetch_single(
                client, name, int(pr_number or 0), tally, expected_repository_id
            )
        else:
            cutoff = (
                walk_cutoff(cursors.pulls_watermark, overlap) if mode == "incremental" else None
            )
            etag = cursors.pulls_etag if mode == "incremental" else None
            sliced = _Slicing(hand_on, slice_rows) if on_slice is not None else None
            walk = await _walk_pulls(
                client,
                name,
                etag,
                cutoff,
                overlap,
                tally=tally,
                sliced=sliced,
                expected_repository_id=expected_repository_id,
            )
        renamed_to = None
        if walk.moved:
            renamed_to, walk.repository_id = await _resolve_rename(client, name, tally)
            _check_identity(name, expected_repository_id, walk.repository_id)
        if walk.failure is not None:
            seen.failures.append(walk.failure)
        pull_requests = latest_per_number(walk.pages.tables())
        check_runs = await check_runs_of(pull_requests, renamed_to or name)
        if mode != "full":
            # A PR seen now points at its head now, not at the one the warehouse still holds.
            seen.heads.update(k.head_sha for n, k in known.items() if n not in seen.numbers)
        stats = DiscoveryStats(
            cost=tally.cost(),
            pull_request_pages=walk.page_count,
            pull_requests=seen.pull_requests,
            check_run_shas=seen.check_run_shas,
            check_run_shas_unchanged=sum(f.unchanged for f in seen.fetched),
            check_runs=seen.check_runs,
            item_failures=len(seen.failures),
        )
        return DiscoveryResult(
            name,
            mode,
            pull_requests,
            check_runs,
            _next_cursors(cursors, mode, walk, seen, now),
            stats,
            renamed_to,
            walk.unchanged,
            item_failures=tuple(seen.failures),
            github_repository_id=walk.repository_id,
        )


@dataclass(frozen=True)
class _Slicing:
    """Hand the walk's PRs on (``hand_on``) whenever it holds ``rows`` of them."""

    hand_on: Callable[[_Walk], Awaitable[None]]
    rows: int


def _repo_path(repository: str) -> str:
    return "repos/" + quote(repository, safe="/")


def _is_item_error(error: GitHubError) -> bool:
    """A final 404/422 answer (not a rate limit, not a transient failure given up on)."""
    return error.http_status in ITEM_STATUSES and not isinstance(
        error, (RateLimitedError, TransientGitHubError)
    )


def _base_repository_id(item: object) -> int | None:
    """``base.repo.id`` of one PR object (the repository the PR belongs to), if present."""
    if not isinstance(item, dict):
        return None
    base = item.get("base")
    repo = base.get("repo") if isinstance(base, dict) else None
    ident = repo.get("id") if isinstance(repo, dict) else None
    return ident if isinstance(ident, int) and not isinstance(ident, bool) else None


def _check_identity(repository: str, expected: int | None, seen: int | None) -> None:
    if expected is not None and seen is not None and seen != expected:
        raise RepositoryReplacedError(repository, expected, seen)


async def _fetch_single(
    client: GitHubClient,
    repository: str,
    number: int,
    tally: RequestTally,
    expected_repository_id: int | None = None,
) -> _Walk:
    """GET one PR. A 404 is the PR's own failure only if the repository still answers.

    GitHub answers 404 alike for a PR that does not exist and for a repository that does not
    (or that the token may not see): one extra request, only on that 404, tells them apart.
    """
    path = f"{_repo_path(repository)}/pulls/{number}"
    try:
        response = await client.get(path, context=repository, tally=tally)
    except GitHubError as error:
        if not _is_item_error(error) or error.http_status != 404:
            raise
        probe = await client.get(_repo_path(repository), context=repository, tally=tally)
        walk = _Walk(_Tables(), None, False, probe.moved_permanently, 0)
        walk.repository_id = _repository_id(probe, repository)
        _check_identity(repository, expected_repository_id, walk.repository_id)
        walk.failure = ItemFailure("pull_request", str(number), 404, str(error))
        return walk
    data = _expect(response, dict, repository)
    walk = _Walk(_Tables(), None, False, response.moved_permanently, 0)
    walk.repository_id = _base_repository_id(data)
    _check_identity(repository, expected_repository_id, walk.repository_id)
    walk.add(_parsed(tally, parse_pull_requests, data, repository))
    return walk


async def _walk_pulls(
    client: GitHubClient,
    repository: str,
    etag: str | None,
    cutoff: datetime | None,
    overlap: timedelta,
    *,
    tally: RequestTally,
    sliced: _Slicing | None = None,
    expected_repository_id: int | None = None,
) -> _Walk:
    """Walk list pulls down to ``cutoff``, then re-check page 1 until it answers 304.

    The first page's first PR names the repository's GitHub id; when it is not
    ``expected_repository_id`` the walk stops there (:class:`RepositoryReplacedError`).
    """
    url = f"{_repo_path(repository)}/pulls"
    first = await client.get(url, params=PULLS_PARAMS, etag=etag, context=repository, tally=tally)
    if first.not_modified:
        return _Walk(_Tables(), etag, True, first.moved_permanently, 0)
    walk = _Walk(_Tables(), first.etag, False, first.moved_permanently, 0)
    page = _PullRequestPage.of(first, repository, tally)
    del first  # see _PullRequestPage
    walk.repository_id = page.repository_id
    _check_identity(repository, expected_repository_id, walk.repository_id)
    await _walk_from(client, repository, page, cutoff, walk, tally=tally, sliced=sliced)
    for _ in range(MAX_RECHECKS):
        top = walk.newest
        again = await client.get(
            url, params=PULLS_PARAMS, etag=walk.first_etag, context=repository, tally=tally
        )
        if again.not_modified:
            break
        walk.first_etag = again.etag
        page = _PullRequestPage.of(again, repository, tally)
        del again
        recheck_cutoff = None if top is None else top - overlap
        await _walk_from(client, repository, page, recheck_cutoff, walk, tally=tally, sliced=sliced)
    return walk


@dataclass(frozen=True)
class _PullRequestPage:
    """One list page parsed, without the response it came from.

    A response holds its decoded JSON: ~3.5 MB of Python objects for 100 PRs with their
    repository objects. The walk keeps only this while it waits for the next page, so that
    each repository walking at once does not hold its previous (or first) page's objects too.
    """

    pull_requests: pa.Table
    next_url: str | None
    repository_id: int | None
    """``base.repo.id`` of the page's first PR (None for an empty page)."""

    @classmethod
    def of(cls, response: GitHubResponse, repository: str, tally: RequestTally) -> _PullRequestPage:
        items = _expect(response, list, repository)
        table = _parsed(tally, parse_pull_requests, items, repository)
        return cls(table, response.next_url, _base_repository_id(items[0]) if items else None)


async def _walk_from(
    client: GitHubClient,
    repository: str,
    page: _PullRequestPage,
    cutoff: datetime | None,
    walk: _Walk,
    *,
    tally: RequestTally,
    sliced: _Slicing | None = None,
) -> None:
    while True:
        walk.add(page.pull_requests)
        next_url = page.next_url
        if next_url is None or page_reaches_cutoff(page.pull_requests, cutoff):
            return
        if sliced is not None and walk.pages.rows >= sliced.rows:
            await sliced.hand_on(walk)
        response = await client.get(next_url, context=repository, tally=tally)
        page = _PullRequestPage.of(response, repository, tally)


async def _resolve_rename(
    client: GitHubClient, repository: str, tally: RequestTally
) -> tuple[str, int | None]:
    """A 301 means renamed or transferred: ask the repository (redirected) for its name now.

    Returns the new ``owner/name`` and the repository's GitHub id.
    """
    response = await client.get(_repo_path(repository), context=repository, tally=tally)
    data = _expect(response, dict, repository)
    full_name = data.get("full_name")
    if not isinstance(full_name, str):
        raise MalformedResponseError(f"{repository}: repository: field 'full_name' missing")
    return str(parse_repo_key(full_name)), _repository_id(response, repository)


def _repository_id(response: GitHubResponse, repository: str) -> int | None:
    data = _expect(response, dict, repository)
    ident = data.get("id")
    return ident if isinstance(ident, int) and not isinstance(ident, bool) else None


@dataclass(frozen=True)
class _ChecksFetched:
    """One SHA's fetch besides its rows: the validators to store, or that all pages were 304."""

    head_sha: str
    validators: str | None
    unchanged: bool


async def _read_check_runs(
    client: GitHubClient,
    repository: str,
    targets: list[CheckRunTarget],
    cursors: SyncCursors,
    *,
    now: datetime,
    tally: RequestTally,
    runs: _Tables,
    api: ApiMode,
) -> tuple[list[_ChecksFetched], list[ItemFailure]]:
    """Read the targets' check runs by REST, GraphQL or both (see ``route_check_run_targets``).

    The GraphQL share goes to the client's one reader (``github.graphql``), which packs it
    with other repositories' SHAs. A SHA GraphQL read is recorded as fetched, with when
    (``graphql_read_marker``, no ETag); targets read too recently are left out (their cursors
    stay). A SHA whose commit GraphQL does not know is this SHA's failure, as REST's 422
    "No commit found" is (same back-off). ``auto`` falls back to REST for this repository,
    logged once, when the server has no GraphQL, and moves SHAs the answer shows running for
    long to REST ETags (:func:`_etags_of_long_running`).
    """
    reader = None if api == "rest" else graphql_reader_for(client)
    if reader is not None and api == "auto" and reader.unavailable is not None:
        _log_fallback(reader, repository, reader.unavailable)
        reader = None
    if reader is None:
        return await _fetch_all_check_runs(client, repository, targets, cursors, tally, runs=runs)
    routes = route_check_run_targets(targets, cursors.check_run_etags, everything=api == "graphql")
    by_rest, by_graphql = routes.rest, routes.graphql
    try:
        async with asyncio.TaskGroup() as group:
            rest_task = group.create_task(
                _fetch_all_check_runs(client, repository, by_rest, cursors, tally, runs=runs)
            )
            graphql_task = group.create_task(
                _graphql_or_none(reader, repository, by_graphql, tally, api=api)
            )
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 - the reader's own error, with its traceback
    fetched, failures = rest_task.result()
    answer = graphql_task.result()
    if answer is None:
        more, refused = await _fetch_all_check_runs(
            client, repository, by_graphql, cursors, tally, runs=runs
        )
        return fetched + more, failures + refused
    marker = graphql_read_marker(now)
    moved = long_running_shas(answer.check_runs, now) if api == "auto" else set()
    by_etag = await _etags_of_long_running(
        client,
        repository,
        [t for t in by_graphql if t.head_sha in moved],
        tally=tally,
        runs=runs,
        marker=marker,
    )
    etag_shas = {f.head_sha for f in by_etag}
    runs.add(_without_shas(answer.check_runs, etag_shas))
    fetched += by_etag
    fetched += [_ChecksFetched(sha, marker, False) for sha in answer.read if sha not in etag_shas]
    failures += [
        ItemFailure("check_runs", sha, 422, f"{repository}: GraphQL: no commit found for {sha}")
        for sha in answer.gone
    ]
    return fetched, failures


async def _etags_of_long_running(
    client: GitHubClient,
    repository: str,
    targets: list[CheckRunTarget],
    *,
    tally: RequestTally,
    runs: _Tables,
    marker: str,
) -> list[_ChecksFetched]:
    """Read by REST, for their ETags, SHAs GraphQL just showed running for long.

    From the next cycle on they are polled with ``If-None-Match`` (``route_check_run_targets``:
    a conditional target with a REST validator goes to REST), free while nothing changes
    (``core.discovery_plan.LONG_RUNNING`` says why). Their REST rows replace GraphQL's (the
    same rows, read a moment later). A SHA REST refuses keeps its GraphQL rows and read, as
    does one answered without an ETag.
    """
    if not targets:
        return []
    unconditional = [replace(t, conditional=False) for t in targets]
    fetched, _refused = await _fetch_all_check_runs(
        client, repository, unconditional, SyncCursors(), tally, runs=runs
    )
    return [f if f.validators is not None else replace(f, validators=marker) for f in fetched]


def _without_shas(check_runs: pa.Table, shas: set[str]) -> pa.Table:
    """``check_runs`` without the rows of ``shas``."""
    if not shas or check_runs.num_rows == 0:
        return check_runs
    keep = pc.invert(pc.is_in(check_runs.column("head_sha"), value_set=pa.array(sorted(shas))))
    return check_runs.filter(keep)


async def _graphql_or_none(
    reader: GraphQLCheckReader,
    repository: str,
    targets: list[CheckRunTarget],
    tally: RequestTally,
    *,
    api: ApiMode,
) -> GraphQLChecks | None:
    """The reader's answer, or None when ``auto`` must fall back to REST (logged once)."""
    try:
        return await reader.read(repository, targets, tally)
    except GraphQLUnavailableError as error:
        if api != "auto":
            raise
        _log_fallback(reader, repository, error)
        return None


def _log_fallback(reader: GraphQLCheckReader, repository: str, error: Exception) -> None:
    """One clear line per repository and process: its check runs are read by REST."""
    if repository not in reader.fell_back:
        reader.fell_back.add(repository)
        log.warning("%s: %s; reading check runs by REST", repository, error)


async def _fetch_all_check_runs(
    client: GitHubClient,
    repository: str,
    targets: list[CheckRunTarget],
    cursors: SyncCursors,
    tally: RequestTally,
    *,
    runs: _Tables,
) -> tuple[list[_ChecksFetched], list[ItemFailure]]:
    """Fetch every target SHA, ``max_concurrency`` at a time, gathering the rows into ``runs``.

    A fixed set of workers (not one task per SHA) keeps memory flat for tens of thousands of
    SHAs; each SHA's rows are handed to ``runs`` as they arrive. A 404/422 on any page of one
    SHA is that SHA's failure: none of its rows are kept, its ETag is left as it was, and the
    others go on. Any other failure cancels the other workers (no request is spent for a
    discovery that already failed) and is raised as is.
    """
    pending = iter(targets)
    fetched: list[_ChecksFetched] = []
    failures: list[ItemFailure] = []

    async def worker() -> None:
        for target in pending:
            stored = rest_validator(cursors.check_run_etags.get(target.head_sha))
            stored = stored if target.conditional else None
            try:
                table, result = await _fetch_check_runs(client, repository, target, stored, tally)
            except GitHubError as error:
                if not _is_item_error(error):
                    raise
                status = int(error.http_status or 0)
                failures.append(ItemFailure("check_runs", target.head_sha, status, str(error)))
                continue
            runs.add(table)
            fetched.append(result)

    workers = min(len(targets), max(1, client.config.max_concurrency))
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 - the worker's own error, with its traceback
    return fetched, failures


async def _fetch_check_runs(
    client: GitHubClient,
    repository: str,
    target: CheckRunTarget,
    stored: str | None,
    tally: RequestTally,
) -> tuple[pa.Table, _ChecksFetched]:
    """All pages of one SHA's runs, or "unchanged" when every stored page ETag answers 304."""
    url = f"{_repo_path(repository)}/commits/{target.head_sha}/check-runs"
    first_etag, later = decode_check_run_validators(stored) if stored else (None, [])
    first = await client.get(
        url, params=CHECK_RUNS_PARAMS, etag=first_etag, context=repository, tally=tally
    )
    if first.not_modified:
        for page_url, page_etag in later:
            page = await client.get(page_url, etag=page_etag, context=repository, tally=tally)
            if not page.not_modified:
                break
        else:
            return CHECK_RUN_SCHEMA.empty_table(), _ChecksFetched(target.head_sha, stored, True)
        first = await client.get(url, params=CHECK_RUNS_PARAMS, context=repository, tally=tally)
    tables: list[pa.Table] = []
    validators: list[tuple[str, str | None]] = []
    response = first
    while True:
        envelope = _expect(response, dict, repository)
        tables.append(_parsed(tally, parse_check_runs, envelope, repository, target.pr_numbers))
        validators.append((response.url, response.etag))
        if response.next_url is None:
            break
        response = await client.get(response.next_url, context=repository, tally=tally)
    table = _concat_runs(tables)
    return table, _ChecksFetched(target.head_sha, encode_check_run_validators(validators), False)


def _parsed(tally: RequestTally, parse: Callable[..., pa.Table], *args: Any) -> pa.Table:
    """``parse(*args)``, its seconds added to the repository's ``parse_seconds``."""
    started = time.perf_counter()
    try:
        return parse(*args)
    finally:
        tally.parse_seconds += time.perf_counter() - started


def _concat_runs(tables: list[pa.Table]) -> pa.Table:
    non_empty = [t for t in tables if t.num_rows]
    return pa.concat_tables(non_empty) if non_empty else CHECK_RUN_SCHEMA.empty_table()


def _next_cursors(
    cursors: SyncCursors, mode: SyncMode, walk: _Walk, seen: _Seen, now: datetime
) -> SyncCursors:
    """Watermark = newest ``updated_at`` seen (never moved back); ETags of what was read.

    A SHA read successfully loses its failure; a refused one gets its next back-off; failures
    and ETags of SHAs no PR points at any more are dropped.
    """
    etags = dict(cursors.check_run_etags)
    failures = dict(cursors.check_run_failures)
    for result in seen.fetched:
        failures.pop(result.head_sha, None)
        if result.validators is None:
            etags.pop(result.head_sha, None)
        else:
            etags[result.head_sha] = result.validators
    for item in seen.failures:
        if item.kind == "check_runs":
            failures[item.key] = next_check_run_failure(
                failures.get(item.key), item.key, item.http_status, item.message, now
            )
    etags = prune_check_run_etags(etags, seen.heads)
    failures = prune_check_run_failures(failures, seen.heads)
    if mode == "single":
        return replace(cursors, check_run_etags=etags, check_run_failures=failures)
    watermark = cursors.pulls_watermark
    if walk.newest is not None and (watermark is None or walk.newest > watermark):
        watermark = walk.newest
    return SyncCursors(
        pulls_watermark=watermark,
        pulls_etag=walk.first_etag,
        check_run_etags=etags,
        check_run_failures=failures,
    )


def _expect(response: GitHubResponse, kind: type[T], repository: str) -> T:
    if not isinstance(response.data, kind):
        raise MalformedResponseError(
            f"{repository}: GET {response.url}: expected a JSON {kind.__name__}, "
            f"got {type(response.data).__name__}"
        )
    return response.data
