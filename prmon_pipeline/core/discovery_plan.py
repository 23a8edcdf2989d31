"""Pure rules of discovery: where a PR walk stops, which head SHAs need check runs, cursors.

``github/discovery.py`` performs the requests; every decision it takes is a function here, so
the rules are tested without HTTP. See ``shared/GITHUB-API.md`` §2 (no ``since`` on list pulls:
walk ``sort=updated desc`` down to the watermark minus an overlap, expect duplicates) and §7
(check runs never bump a PR's ``updated_at``, so they are polled by head SHA with ETags).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from prmon_pipeline.core.models import CheckRunFailure, SyncMode
from prmon_pipeline.core.schemas import PULL_REQUEST_SCHEMA


@dataclass(frozen=True)
class KnownPullRequest:
    """What the warehouse already holds about one PR, as far as discovery needs it.

    ``checks_pending``: some stored check run of ``head_sha`` is not ``completed`` (GitHub will
    still change it, without touching the PR's ``updated_at``).
    """

    number: int
    head_sha: str
    state: str
    closed_at: datetime | None = None
    checks_pending: bool = False


def known_pull_requests_from_arrow(
    pull_requests: pa.Table, check_runs: pa.Table
) -> dict[int, KnownPullRequest]:
    """Build the known-PR map from a warehouse snapshot in the two discovery schemas."""
    pending: set[int] = set()
    if check_runs.num_rows:
        runs = check_runs.select(["pr_number", "head_sha", "status"]).to_pylist()
        heads = dict(
            zip(
                pull_requests.column("number").to_pylist(),
                pull_requests.column("head_sha").to_pylist(),
                strict=True,
            )
        )
        pending = {
            r["pr_number"]
            for r in runs
            if r["status"] != "completed" and heads.get(r["pr_number"]) == r["head_sha"]
        }
    rows = pull_requests.select(["number", "head_sha", "state", "closed_at"]).to_pylist()
    return {
        r["number"]: KnownPullRequest(
            r["number"], r["head_sha"], r["state"], r["closed_at"], r["number"] in pending
        )
        for r in rows
    }


def walk_cutoff(watermark: datetime | None, overlap: timedelta) -> datetime | None:
    """Oldest ``updated_at`` an incremental walk must still read (None: read everything)."""
    return None if watermark is None else watermark - overlap


def page_reaches_cutoff(page: pa.Table, cutoff: datetime | None) -> bool:
    """True once a page holds an item older than the cutoff: later pages are older still."""
    if cutoff is None or page.num_rows == 0:
        return False
    oldest = pc.min(page.column("updated_at")).as_py()
    return oldest is not None and bool(oldest < cutoff)


def newest_updated_at(table: pa.Table) -> datetime | None:
    """The largest ``updated_at`` of a PR table (None when empty)."""
    if table.num_rows == 0:
        return None
    value: datetime | None = pc.max(table.column("updated_at")).as_py()
    return value


def latest_per_number(pages: Iterable[pa.Table]) -> pa.Table:
    """Concatenate walked pages and keep one row per PR: the newest ``updated_at`` wins.

    Pages shift while they are walked (page-number pagination over a live ordering), so a PR
    can appear twice; on equal ``updated_at`` the later-fetched copy wins. When no PR repeats
    (nearly always) the pages are returned as walked, without copying them: a first sync of a
    100,000-PR repository holds ~200 MB of PRs and must not hold them twice. Otherwise the
    result is sorted by number. Either way equal inputs give equal tables.
    """
    tables = [t for t in pages if t.num_rows]
    if not tables:
        return PULL_REQUEST_SCHEMA.empty_table()
    table = pa.concat_tables(tables)
    if pc.count_distinct(table.column("number")).as_py() == table.num_rows:
        return table
    position = pl.int_range(pl.len(), dtype=pl.Int64).alias("position")
    keys = pl.from_arrow(table.select(["number", "updated_at"]))
    assert isinstance(keys, pl.DataFrame)
    winners = (
        keys.with_columns(position)
        .sort(["number", "updated_at", "position"])
        .group_by("number", maintain_order=True)
        .agg(pl.col("position").last())
    )
    return table.take(winners["position"].to_arrow())


def compact(tables: Sequence[pa.Table]) -> pa.Table:
    """Many small tables of one schema as one table of one chunk.

    Thousands of tiny tables (one per check-run page, one per list page) cost far more memory
    than their rows in Arrow's per-array bookkeeping; callers compact every few thousand rows.
    """
    return pa.concat_tables(tables).combine_chunks()


@dataclass(frozen=True)
class CheckRunTarget:
    """One head SHA to fetch, the PRs whose head it is, and whether its ETag may be sent.

    ``conditional`` is False when some PR just moved onto this SHA (or is new): a 304 would
    then mean "no rows" for a PR that has none stored yet.
    """

    head_sha: str
    pr_numbers: tuple[int, ...]
    conditional: bool
    only_changed: bool = False
    """The one reason to read it: a PR of it was updated (its checks are finished, its head
    did not move, no sweep asked). Checks change only by a re-run, which GitHub does not
    signal on the PR, so REST reads these only because a 304 is free; GraphQL need not."""


@dataclass(frozen=True)
class _Head:
    number: int
    head_sha: str
    state: str
    closed_at: datetime | None
    seen: bool
    changed: bool
    """Seen with an ``updated_at`` after the last sync's watermark (not just re-read)."""


def plan_check_run_targets(
    seen: pa.Table,
    known: Mapping[int, KnownPullRequest],
    mode: SyncMode,
    *,
    now: datetime,
    lookback: timedelta | None,
    refresh_open: bool = True,
    fetched_shas: Container[str] = frozenset(),
    changed_since: datetime | None = None,
    failures: Mapping[str, CheckRunFailure] | None = None,
) -> list[CheckRunTarget]:
    """Head SHAs whose check runs must be fetched in this discovery.

    * a PR seen with a new or moved head SHA: unconditional fetch;
    * a PR that changed (seen, ``updated_at`` after ``changed_since``, the last watermark) and
      is open now or was open at the last sync: conditional fetch — free when unchanged, and
      how a re-run just before a merge is seen;
    * every PR open now or at the last sync (``refresh_open``): conditional fetch — the only way
      to see re-runs on an otherwise untouched PR, which GitHub signals nowhere on the PR. One
      request per open PR, free in rate limit but not in time, so it is a periodic sweep;
    * a PR (seen or not) whose stored runs are not all completed: conditional fetch;
    * full mode: also every PR seen whose head SHA was never fetched (``fetched_shas`` = the
      SHAs with a stored ETag): fills check runs skipped earlier by the look-back, while closed
      PRs with completed runs cost nothing (finished runs cannot change).
    Closed PRs whose ``closed_at`` lies before ``now - lookback`` are skipped (budget guard), and
    so are SHAs in ``failures`` (GitHub refused them) whose retry is not yet due: they stay
    recorded and are tried again once :func:`failure_is_due`.
    """
    heads = _current_heads(seen, known, mode == "incremental", changed_since)
    refused = failures or {}
    window_start = None if lookback is None else now - lookback
    wanted: set[str] = set()
    unconditional: set[str] = set()
    other_reason: set[str] = set()
    by_sha: dict[str, list[int]] = {}
    for head in heads:
        by_sha.setdefault(head.head_sha, []).append(head.number)
        previous = known.get(head.number)
        moved = previous is None or previous.head_sha != head.head_sha
        closed_before_window = (
            head.state != "open"
            and window_start is not None
            and head.closed_at is not None
            and head.closed_at < window_start
        )
        if closed_before_window:
            continue
        pending = previous is not None and previous.checks_pending
        was_open = previous is not None and previous.state == "open"
        backfill = mode != "incremental" and head.head_sha not in fetched_shas
        is_open = head.state == "open" or was_open
        other = (
            (head.seen and (moved or backfill or mode == "single"))
            or (refresh_open and is_open)
            or pending
        )
        if other or (head.changed and is_open):
            wanted.add(head.head_sha)
            if other:
                other_reason.add(head.head_sha)
            if head.seen and moved:
                unconditional.add(head.head_sha)
    return [
        CheckRunTarget(
            sha, tuple(sorted(by_sha[sha])), sha not in unconditional, sha not in other_reason
        )
        for sha in sorted(wanted)
        if sha not in refused or failure_is_due(refused[sha], now)
    ]


def _current_heads(
    seen: pa.Table,
    known: Mapping[int, KnownPullRequest],
    include_known: bool,
    changed_since: datetime | None,
) -> list[_Head]:
    rows: list[dict[str, Any]] = seen.select(
        ["number", "head_sha", "state", "closed_at", "updated_at"]
    ).to_pylist()
    heads = [
        _Head(
            r["number"],
            r["head_sha"],
            r["state"],
            r["closed_at"],
            seen=True,
            changed=changed_since is None or r["updated_at"] > changed_since,
        )
        for r in rows
    ]
    if include_known:
        numbers = {h.number for h in heads}
        heads += [
            _Head(k.number, k.head_sha, k.state, k.closed_at, seen=False, changed=False)
            for k in known.values()
            if k.number not in numbers
        ]
    return heads


GRAPHQL_READ = "graphql "
"""Prefix of the ``check_run_etags`` value of a SHA read by GraphQL, followed by when.

GraphQL has no conditional requests, and an ETag cannot be invented. The entry marks the SHA
as fetched (full mode's back-fill skips it: ``fetched_shas``) and says when. It is never sent
as ``If-None-Match`` (:func:`rest_validator`); a real ETag is a quoted string, never this.

A SHA with running checks read by GraphQL is read again every cycle, as REST polls it every
cycle: GraphQL has no 304, so each poll costs its share of a query (a twenty-fourth of a point)
where REST's 304 costs nothing. Skipping recent reads by the wall clock was tried and dropped: a
demo or a bench cycle seconds after the previous one then missed checks that had progressed.
A SHA whose checks have been running for long moves to REST instead (:func:`long_running_shas`).
"""

LONG_RUNNING = timedelta(hours=1)
"""A SHA with a run unfinished for longer than this is polled by REST with its ETag.

What a running SHA costs per cycle: by GraphQL a twenty-fourth of a point, every cycle, changed
or not; by REST one unit for the first read (the ETag) and one for each read that finds a
change, nothing for the 304s in between. Young runs change almost every cycle (queued, started,
completed within minutes), so GraphQL is cheaper for them. A run still unfinished after an hour
mostly stays so: it is stuck (GitHub leaves a run that never started queued for 14 days before
calling it ``stale``, and suites that stay queued forever are common, GITHUB-GRAPHQL.md §3.4)
or one long job with one change left. By GraphQL such a SHA costs ~12 queries' shares an hour
for days; by REST one unit, then free 304s. Freshness is the same: both are read every cycle.
The age is GitHub's own (a run's ``started_at``, set when it is created) against the sync's
clock, so a simulator whose clock runs ahead only delays the move, it never skips a read."""


def long_running_shas(
    check_runs: pa.Table, now: datetime, threshold: timedelta = LONG_RUNNING
) -> set[str]:
    """Head SHAs of ``check_runs`` with a run not ``completed`` that started before
    ``now - threshold`` (see :data:`LONG_RUNNING`)."""
    if check_runs.num_rows == 0:
        return set()
    since = now - threshold
    rows = check_runs.select(["head_sha", "status", "started_at"]).to_pylist()
    return {
        r["head_sha"]
        for r in rows
        if r["status"] != "completed" and r["started_at"] is not None and r["started_at"] < since
    }


def graphql_read_marker(now: datetime) -> str:
    """The ``check_run_etags`` value of a SHA GraphQL read at ``now``."""
    return GRAPHQL_READ + now.isoformat()


def graphql_read_at(value: str | None) -> datetime | None:
    """When GraphQL read the SHA with this cursor value (None: not a GraphQL read)."""
    if value is None or not value.startswith(GRAPHQL_READ):
        return None
    try:
        return datetime.fromisoformat(value.removeprefix(GRAPHQL_READ))
    except ValueError:
        return None


def rest_validator(value: str | None) -> str | None:
    """The REST validators of a cursor value, or None when it holds none (a GraphQL read)."""
    if not value or value.startswith(GRAPHQL_READ):
        return None
    return value


@dataclass(frozen=True)
class CheckRunRoutes:
    """Which API reads each target this cycle; ``skipped`` are read by GraphQL too recently."""

    rest: list[CheckRunTarget]
    graphql: list[CheckRunTarget]
    skipped: list[CheckRunTarget]


def route_check_run_targets(
    targets: Sequence[CheckRunTarget],
    validators: Mapping[str, str],
    *,
    everything: bool = False,
) -> CheckRunRoutes:
    """Split targets by what reads them cheapest; ``everything`` sends no target to REST.

    What each costs: a REST read is one unit when it answers 200 and nothing when a stored
    ETag answers 304; a GraphQL read is 1/24 point per SHA in a full query
    (``core.graphql_queries``) however little changed, since GraphQL has no ETags. So:

    * a SHA whose read may be conditional and that has a REST validator goes to REST: the
      periodic sweep of finished checks is free 304s, and so is a quiet running SHA;
    * a SHA GraphQL read before whose only reason is an update of its PR is skipped
      (:attr:`CheckRunTarget.only_changed`: finished checks, which the sweep re-reads);
    * everything else goes to GraphQL: new and moved heads (a REST read would be a 200, one
      unit; by GraphQL a twenty-fourth of a point) and SHAs with no validator.
    """
    rest: list[CheckRunTarget] = []
    graphql: list[CheckRunTarget] = []
    skipped: list[CheckRunTarget] = []
    for target in targets:
        stored = validators.get(target.head_sha)
        read_at = graphql_read_at(stored)
        if target.conditional and not everything and rest_validator(stored) is not None:
            rest.append(target)
        elif target.conditional and target.only_changed and read_at is not None:
            skipped.append(target)
        else:
            graphql.append(target)
    return CheckRunRoutes(rest, graphql, skipped)


def encode_check_run_validators(pages: list[tuple[str, str | None]]) -> str | None:
    """Store the ETags of every page of one SHA's check-run list in one cursor string.

    ``pages`` is ``[(url, etag), ...]`` in walk order. One page (the usual case): just its
    ETag. More pages: the first line is page 1's ETag, each further line ``<url> <etag>`` with
    the URL GitHub gave in ``Link``. Needed because runs are ordered by id, so a status change
    on page 2 leaves page 1's ETag unchanged. ETags and URLs contain no spaces or newlines.
    Returns None when a page had no ETag (nothing safe to store).
    """
    if not pages or any(etag is None for _, etag in pages):
        return None
    first = str(pages[0][1])
    return "\n".join([first] + [f"{url} {etag}" for url, etag in pages[1:]])


def decode_check_run_validators(value: str) -> tuple[str, list[tuple[str, str]]]:
    """Inverse of :func:`encode_check_run_validators`: (page-1 ETag, [(url, etag), ...])."""
    first, *rest = value.split("\n")
    later: list[tuple[str, str]] = []
    for line in rest:
        url, _, etag = line.partition(" ")
        later.append((url, etag))
    return first, later


def prune_check_run_etags(etags: Mapping[str, str], relevant_shas: Iterable[str]) -> dict[str, str]:
    """Keep ETags only for SHAs that are still some PR's head, so the cursor does not grow."""
    keep = set(relevant_shas)
    return {sha: etag for sha, etag in etags.items() if sha in keep}


CHECK_RUN_RETRY_FIRST = timedelta(hours=1)
CHECK_RUN_RETRY_CAP = timedelta(days=7)


def check_run_retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th consecutive failure a refused SHA is asked again.

    ``1 h * 2**(attempts - 1)``, capped at 7 days: 1 h, 2 h, 4 h … 128 h, then weekly. GitHub
    answers 422 "No commit found for SHA" (or 404) for a commit that a force-push and garbage
    collection removed; such a commit rarely comes back, so every request for it is a rate-limit
    unit spent for nothing (errors count, GITHUB-API.md §5). At a 5-minute sync cadence the
    first hour already saves 11 of 12 requests, and an hour is far longer than the moments
    after a push when GitHub may not yet serve a new commit's checks. Doubling makes a dead SHA
    cost ~11 requests in its first month instead of ~8,600; the weekly cap bounds how late a
    SHA that becomes reachable again (pushed back) is seen. A SHA no PR points at any more is
    forgotten altogether (:func:`prune_check_run_failures`), so the cap rarely matters.
    """
    if attempts < 1:
        raise ValueError(f"attempts counts failures from 1, got {attempts}")
    # 2**8 hours already exceeds the cap: never build huge numbers for a long-dead SHA.
    delay: timedelta = CHECK_RUN_RETRY_FIRST * 2 ** min(attempts - 1, 8)
    return min(delay, CHECK_RUN_RETRY_CAP)


def failure_is_due(failure: CheckRunFailure, now: datetime) -> bool:
    """True once a refused SHA may be asked again."""
    return now >= failure.retry_after


def next_check_run_failure(
    previous: CheckRunFailure | None,
    head_sha: str,
    http_status: int,
    message: str,
    now: datetime,
) -> CheckRunFailure:
    """The failure to record after GitHub refused ``head_sha`` at ``now`` (once more, or first)."""
    attempts = 1 if previous is None else previous.attempts + 1
    return CheckRunFailure(
        head_sha=head_sha,
        http_status=http_status,
        message=message,
        attempts=attempts,
        first_failed_at=now if previous is None else previous.first_failed_at,
        last_failed_at=now,
        retry_after=now + check_run_retry_delay(attempts),
    )


def prune_check_run_failures(
    failures: Mapping[str, CheckRunFailure], relevant_shas: Iterable[str]
) -> dict[str, CheckRunFailure]:
    """Keep failures only for SHAs some PR (seen now or stored) still points at."""
    keep = set(relevant_shas)
    return {sha: failure for sha, failure in failures.items() if sha in keep}
