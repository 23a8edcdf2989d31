"""Check runs by GraphQL batches: one process-wide reader that packs every repository's SHAs.

Why one reader per client and not one query per repository: the REST PR list already costs
about one unit per repository and cycle, and a GraphQL query costs at least one point however
few SHAs it carries. An incremental cycle at 1 % churn touches a handful of SHAs per
repository; one query each would cost a point per repository, while 24 SHAs share a point. So
every repository's sync announces itself to :func:`graphql_reader_for` its client's reader
(``sync.runner``: the run's repositories before they start, each sync while it runs, its
discovery while it walks), and discovery hands its ``(repository, SHAs)`` to the reader and
awaits them. The reader's single pump sends one query at a time (GitHub's CPU-time secondary
limit allows ~60 s of GraphQL work per minute: effectively serial, ``shared/GITHUB-GRAPHQL.md``
§2.2), made of whatever items are waiting, from any repositories; a query with room waits
briefly for announced repositories that will still ask (:meth:`GraphQLCheckReader._linger`).

Batch size is adaptive (§7.3): it starts at :data:`START_ITEMS` items (one item = one SHA's
first page, or one follow-up page), halves when GitHub says the query was too big or too slow
(502/504, "timedout", "Something went wrong…", resource limits), retrying only the items that
failed, and grows by :data:`GROW_ITEMS` after each clean answer up to :data:`MAX_ITEMS`. Within
that size a query is cut where a point buys the most items (``cheapest_prefix``: 24 first pages
are 1 point, 25 are 2). Every query's ``rateLimit.cost`` is logged with its repositories, item
count and what is left of the pool, so operators can compare it with the cost model, and
charged to the repositories in it in proportion to their items (so per-repository costs add up
to what GitHub charged).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import itertools
import logging
import weakref
from collections.abc import Iterator, Sequence
from typing import Protocol

from prmon_pipeline.core.discovery_plan import CheckRunTarget
from prmon_pipeline.core.errors import (
    AppCredentialError,
    GitHubError,
    PermissionDeniedError,
    TransientGitHubError,
)
from prmon_pipeline.core.graphql_checks import QueryAnswer, parse_answer
from prmon_pipeline.core.graphql_protocol import (
    SHRINK_STATUSES,
    GraphQLRateLimit,
    graphql_url,
    read_rate_limit,
)
from prmon_pipeline.core.graphql_queries import (
    SUITES_PER_PAGE,
    GraphQLQuery,
    HeadKey,
    WorkItem,
    build_query,
    cheapest_prefix,
    head_of,
    predicted_points,
    predicted_requests,
)
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA
from prmon_pipeline.github.client import GitHubClient, RequestTally
from prmon_pipeline.github.graphql_requests import (
    CheckRunRequest,
    GraphQLChecks,
    fail,
    fail_all,
    settle,
)

START_ITEMS = 25
MAX_ITEMS = 50
GROW_ITEMS = 5
SHRINK_ATTEMPTS_AT_ONE = 3
"""A single item still too big this many times in a row fails its repository."""
LINGER_SECONDS = 1.0
"""The longest a query that is not full waits for repositories still walking their PR lists.

It waits only while some repository announced with :meth:`GraphQLCheckReader.walking` has
not yet asked: those SHAs are seconds away, and one query for them all costs a point where one
query each costs a point each. The wait ends as soon as every walker asks (or ends)."""

LEND_LIMIT = 24
"""At most this many repositories wait for an answer with their fan-out place lent out.

A repository whose SHAs do not fill a query lends its place (:func:`holding_place`) while it
waits, so the run's next repository starts walking and adds its SHAs to the same query: an
incremental cycle's queries then carry SHAs of any of the run's repositories, not only of the
few synced at once (4 by default). One SHA each, 24 repositories fill a query of one point.
Only requests smaller than a query lend (a cold sync's repositories ask for hundreds of SHAs
and fill queries by themselves), so what waits in memory is a few small discoveries."""

log = logging.getLogger(__name__)
_WALKER: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "graphql_walker", default=None
)


class LendablePlace(Protocol):
    """A repository's place in a bounded fan-out, which it may lend while it only waits."""

    def lend(self) -> None:
        """Give the place to the next repository (nothing if not held)."""

    async def take_back(self) -> None:
        """Wait for a place again."""


_PLACE: contextvars.ContextVar[LendablePlace | None] = contextvars.ContextVar(
    "fanout_place", default=None
)


@contextlib.contextmanager
def holding_place(place: LendablePlace) -> Iterator[None]:
    """Within, reads of the GraphQL reader may lend ``place`` while they wait (see
    :data:`LEND_LIMIT`); the fan-out wraps each repository's work in this."""
    token = _PLACE.set(place)
    try:
        yield
    finally:
        _PLACE.reset(token)


class GraphQLUnavailableError(GitHubError):
    """The server has no GraphQL endpoint (404 on ``/graphql``: an old GHES, a REST-only
    simulator). ``--api auto`` falls back to REST on it; ``--api graphql`` fails."""


class GraphQLCheckReader:
    """Reads check runs of head SHAs by GraphQL for every repository of one client."""

    def __init__(
        self,
        client: GitHubClient,
        *,
        start_items: int = START_ITEMS,
        max_items: int = MAX_ITEMS,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        self.client = client
        self.size = start_items
        self.max_items = max_items
        self.linger_seconds = linger_seconds
        self.unavailable: GraphQLUnavailableError | None = None
        self.fell_back: set[str] = set()
        """Repositories already told (once, in the log) that they read check runs by REST."""
        self._requests: list[CheckRunRequest] = []
        self._pump: asyncio.Task[None] | None = None
        self._shrinks_at_one = 0
        self._walkers: set[object] = set()
        """Announced discoveries (see :meth:`walking`)."""
        self._coming: collections.Counter[str] = collections.Counter()
        """Repositories of a run that have not started walking yet (see :meth:`coming`)."""
        self._arrival: asyncio.Event | None = None
        self._syncing = 0
        self._lent = 0
        """Waiting requests whose repository lent its fan-out place (see :data:`LEND_LIMIT`)."""

    @contextlib.contextmanager
    def coming(self, repositories: Sequence[str]) -> Iterator[None]:
        """Announce a run's repositories before they start: partial queries wait for them.

        A run syncs a few repositories at once and each asks for a handful of SHAs in an
        incremental cycle; without this the query of the last one asking in a group goes out
        with its handful alone, at the 1-point minimum. Within ``LINGER_SECONDS`` the next
        repository usually starts (a slot frees as another one's load ends) and joins it.
        """
        self._coming.update(repositories)
        try:
            yield
        finally:
            self._coming.subtract(repositories)
            self._coming = +self._coming  # drops those that started (now below zero)
            self._arrived()

    @contextlib.contextmanager
    def syncing(self) -> Iterator[None]:
        """A repository's whole sync (discovery, then its load): while one is past its
        discovery, the run's next repository will start soon, so waiting for it pays."""
        self._syncing += 1
        try:
            yield
        finally:
            self._syncing -= 1
            self._arrived()

    @contextlib.contextmanager
    def walking(self, repository: str | None = None) -> Iterator[None]:
        """Announce a repository's sync that may soon ask: partial queries wait for it.

        The sync service wraps a repository's run up to the end of its discovery in this, so
        the pump knows how many repositories may still add SHAs to the query it is about to
        send (``LINGER_SECONDS``). Reads from within (child tasks included: a context
        variable names the walker) count as this walker asking. Nested announcements of the
        same walker are one.
        """
        current = _WALKER.get()
        if current is not None and current in self._walkers:
            yield
            return
        walker = object()
        self._walkers.add(walker)
        if repository is not None and self._coming[repository] > 0:
            self._coming[repository] -= 1
        token = _WALKER.set(walker)
        self._arrived()
        try:
            yield
        finally:
            _WALKER.reset(token)
            self._walkers.discard(walker)
            self._arrived()

    def _arrived(self) -> None:
        if self._arrival is not None:
            self._arrival.set()

    async def read(
        self,
        repository: str,
        targets: Sequence[CheckRunTarget],
        tally: RequestTally | None = None,
    ) -> GraphQLChecks:
        """Check runs of ``targets`` (rows per PR number, as REST's reader gives them).

        Raises :class:`GraphQLUnavailableError` when the server has no GraphQL, and any
        repository-level :class:`GitHubError` (rate limits given up on, a repository GraphQL
        cannot see, a malformed answer) for this repository only.
        """
        if self.unavailable is not None:
            raise self.unavailable
        if not targets:
            return GraphQLChecks(CHECK_RUN_SCHEMA.empty_table(), (), ())
        loop = asyncio.get_running_loop()
        request = CheckRunRequest(
            repository,
            {t.head_sha: t.pr_numbers for t in targets},
            tally,
            loop.create_future(),
        )
        for target in targets:
            request.waiting.append(HeadKey(repository, target.head_sha))
            request.open_items[target.head_sha] = 1
        walker = _WALKER.get()
        request.walker = walker if walker in self._walkers else None
        self._requests.append(request)
        self._arrived()
        if self._pump is None or self._pump.done():
            self._arrival = asyncio.Event()
            self._pump = asyncio.create_task(self._run(), name="graphql-check-runs")
        place = self._lend(len(targets))
        try:
            answer = await asyncio.shield(request.done)
        except Exception:
            if place is not None:
                await place.take_back()
            raise
        finally:
            if place is not None:
                self._lent -= 1
            if not request.done.done():  # the discovery was cancelled: drop its work
                request.done.cancel()
            if request in self._requests:
                self._requests.remove(request)
        if place is not None:
            await place.take_back()
        return answer

    def _lend(self, items: int) -> LendablePlace | None:
        """Lend the caller's fan-out place while it waits, if its request is smaller than a
        query and fewer than :data:`LEND_LIMIT` already wait so; returns the place lent."""
        place = _PLACE.get()
        if place is None or items >= self.size or self._lent >= LEND_LIMIT:
            return None
        place.lend()
        self._lent += 1
        self._arrived()
        return place

    async def _run(self) -> None:
        """Send queries while items wait; any escape fails every waiting request."""
        try:
            while self._requests:
                await self._linger()
                batch = self._take(self.size)
                if not batch:  # every item answered yet a request open: a bug, never a hang
                    stuck = GitHubError("GraphQL check runs: a request has nothing left to ask")
                    fail_all(self._requests, stuck)
                    self._drop_finished()
                    continue
                await self._send(batch)
                self._drop_finished()
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else TransientGitHubError(repr(exc))
            for request in self._requests:
                fail(request, error)
            self._requests.clear()
            if not isinstance(exc, Exception):
                raise

    async def _linger(self) -> None:
        """Wait (up to ``LINGER_SECONDS``) while the next query has room and more SHAs may come.

        Room: another first page would not raise the query's predicted points. More SHAs may
        come from an announced discovery not waiting for an answer of this reader (it may
        still ask), or, while repositories of the run have not started, from the next one to
        start, provided some sync is not waiting for this reader (it will end and free its
        place). When every sync waits for this query, nothing more can come: it goes at once.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.linger_seconds
        arrival = self._arrival
        assert arrival is not None
        await asyncio.sleep(0)  # let discoveries that are ready ask first
        while self._has_room():
            blocked = len({r.walker for r in self._requests if not r.done.done()} - {None})
            free_walkers = len(self._walkers) - blocked
            free_syncs = self._syncing - blocked
            next_starts = +self._coming and (free_syncs > 0 or self._lent > 0)
            if free_walkers <= 0 and not next_starts:
                return
            left = deadline - loop.time()
            if left <= 0:
                return
            arrival.clear()
            try:
                await asyncio.wait_for(arrival.wait(), left)
            except TimeoutError:
                return

    def _has_room(self) -> bool:
        items = [item for _, item in self._candidates(self.size)]
        if len(items) >= self.size:
            return False
        requests = predicted_requests(items)
        return predicted_points(requests + 1 + SUITES_PER_PAGE) == predicted_points(requests)

    def _waiting_items(self) -> int:
        return sum(len(r.waiting) for r in self._requests if not r.done.done())

    def _candidates(self, count: int) -> list[tuple[CheckRunRequest, WorkItem]]:
        """The next ``count`` waiting items, oldest request first, left in place.

        One query is sent with one credential: with GitHub App auth each owner has its own
        installation token, which sees only that installation's repositories, so a query
        packs only repositories whose requests spend the same credential (with a token, all).
        """
        found: list[tuple[CheckRunRequest, WorkItem]] = []
        principal: str | None = None
        for request in self._requests:
            if request.done.done():
                continue
            mine = self.client.credentials.principal(_owner(request.repository))
            if principal is None:
                principal = mine
            elif mine != principal:
                continue
            for item in itertools.islice(request.waiting, count - len(found)):
                found.append((request, item))
            if len(found) >= count:
                break
        return found

    def _take(self, count: int) -> list[tuple[CheckRunRequest, WorkItem]]:
        """Up to ``count`` waiting items, cut where a point buys the most (``cheapest_prefix``)."""
        candidates = self._candidates(count)
        taken = candidates[: cheapest_prefix([item for _, item in candidates])]
        for request, _ in taken:
            request.waiting.popleft()
        return taken

    def _drop_finished(self) -> None:
        self._requests = [r for r in self._requests if not r.done.done()]

    async def _send(self, batch: list[tuple[CheckRunRequest, WorkItem]]) -> None:
        query = build_query([item for _, item in batch])
        owners = {id(item): request for request, item in batch}
        requests = _requests_of(batch)
        try:
            accounts = {_owner(name).lower() for name in query.repositories}
            response = await self.client.post_graphql(
                # the owner chooses the credential (one per query, see _candidates)
                query.payload(),
                context=_owner(query.repositories[0]) if len(accounts) == 1 else "",
            )
            answer = parse_answer(query, response.data)
        except TransientGitHubError as error:
            if error.http_status in SHRINK_STATUSES:
                self._shrink(batch, str(error))
                return
            fail_all(requests, error)
            return
        except PermissionDeniedError as error:
            if error.http_status == 404 and not isinstance(error, AppCredentialError):
                self.unavailable = GraphQLUnavailableError(
                    f"no GraphQL endpoint at {graphql_url(self.client.config.api_url)} (404)",
                    http_status=404,
                )
                for request in self._requests:
                    fail(request, self.unavailable)
                return
            fail_all(requests, error)
            return
        except GitHubError as error:
            fail_all(requests, error)
            return
        reading = read_rate_limit(response.data)
        _log_query(query, len(batch), reading)
        self._charge(batch, reading)
        self._apply(query, answer, owners)
        if answer.shrink or answer.retry:
            self._shrink([(owners[id(i)], i) for i in answer.retry], "partial answer")
        else:
            self._shrinks_at_one = 0
            self.size = min(self.max_items, self.size + GROW_ITEMS)

    def _shrink(self, items: list[tuple[CheckRunRequest, WorkItem]], reason: str) -> None:
        """Halve the batch size and put ``items`` back first; give up on one item in a row."""
        if self.size == 1:
            self._shrinks_at_one += 1
        self.size = max(1, self.size // 2)
        log.info(
            "GraphQL check runs: query too big or slow (%s); %d items per query", reason, self.size
        )
        if self._shrinks_at_one >= SHRINK_ATTEMPTS_AT_ONE:
            self._shrinks_at_one = 0
            error = TransientGitHubError(f"GraphQL query of one SHA still too big: {reason}")
            fail_all(_requests_of(items), error)
            return
        for request, item in reversed(items):
            request.waiting.appendleft(item)

    def _charge(
        self, batch: list[tuple[CheckRunRequest, WorkItem]], reading: GraphQLRateLimit | None
    ) -> None:
        """Split one query's cost over its repositories by items (largest remainders)."""
        cost = reading.cost if reading else 0
        remaining = reading.remaining if reading else None
        shares: dict[int, int] = {}
        by_id: dict[int, CheckRunRequest] = {}
        for request, _ in batch:
            shares[id(request)] = shares.get(id(request), 0) + 1
            by_id[id(request)] = request
        exact = {k: cost * n / len(batch) for k, n in shares.items()}
        points = {k: int(v) for k, v in exact.items()}
        left = cost - sum(points.values())
        for k in sorted(exact, key=lambda k: exact[k] - points[k], reverse=True)[:left]:
            points[k] += 1
        for k, request in by_id.items():
            if request.tally is not None:
                request.tally.graphql_points += points[k]
                request.tally.graphql_queries += 1
                if remaining is not None:
                    request.tally.graphql_remaining = remaining

    def _apply(
        self, query: GraphQLQuery, answer: QueryAnswer, owners: dict[int, CheckRunRequest]
    ) -> None:
        by_head: dict[HeadKey, CheckRunRequest] = {}
        for item in query.aliases.values():
            by_head.setdefault(head_of(item), owners[id(item)])
        failed: set[int] = set()
        for repository, message in answer.repository_errors.items():
            for request in {id(r): r for r in by_head.values()}.values():
                if request.repository == repository:
                    fail(request, GitHubError(message))
                    failed.add(id(request))
        retried = {id(i) for i in answer.retry}
        for item in query.aliases.values():
            request = owners[id(item)]
            if id(request) in failed or request.done.done():
                continue
            sha = head_of(item).head_sha
            if id(item) not in retried:
                request.open_items[sha] -= 1
        for head, runs in answer.runs.items():
            request = by_head[head]
            request.runs.setdefault(head.head_sha, []).extend(runs)
        for head in answer.gone:
            by_head[head].gone.append(head.head_sha)
        for follow_up in answer.follow_ups:
            request = by_head[head_of(follow_up)]
            request.open_items[head_of(follow_up).head_sha] += 1
            request.waiting.appendleft(follow_up)
        for request in {id(r): r for r in by_head.values()}.values():
            settle(request)


def _requests_of(batch: list[tuple[CheckRunRequest, WorkItem]]) -> list[CheckRunRequest]:
    """The distinct requests of a batch's items, in order (a request is not hashable)."""
    return list({id(request): request for request, _ in batch}.values())


def _owner(repository: str) -> str:
    return repository.partition("/")[0]


def _log_query(query: GraphQLQuery, items: int, reading: GraphQLRateLimit | None) -> None:
    log.info(
        "GraphQL check runs: %d items of %s cost %s points (%s left)",
        items,
        ", ".join(query.repositories),
        reading.cost if reading else "?",
        reading.remaining if reading else "?",
    )


_READERS: weakref.WeakKeyDictionary[GitHubClient, GraphQLCheckReader] = weakref.WeakKeyDictionary()


def graphql_reader_for(client: GitHubClient) -> GraphQLCheckReader:
    """The one reader of ``client``: every repository synced through it shares its queries."""
    reader = _READERS.get(client)
    if reader is None:
        reader = _READERS[client] = GraphQLCheckReader(client)
    return reader
