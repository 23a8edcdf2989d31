"""What a sync costs GitHub (:class:`ApiCost`) and what it wrote (:class:`LoadCounts`).

One shape each, from the client's counters to the ``sync_runs`` row, the CLI summary and the
Dagster metadata: the mappings below are the only place where a field gets its column or key.
Both add up (``+``), so a multi-repository summary, a sliced load and a run of several steps
sum them instead of re-adding fields by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


def _lowest(a: int | None, b: int | None) -> int | None:
    """The smaller of two known rate-limit readings: what is left is what the lowest says."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _latest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(frozen=True)
class ApiCost:
    """Requests to one GitHub API and what they cost.

    ``requests`` include redirect hops; ``not_modified`` are 304s, which cost no rate limit, so
    ``units`` (what the REST core pool was charged) is their difference. ``parse_seconds`` is
    CPU spent turning bodies into data (JSON decoding and Arrow building). The GraphQL pool is
    separate on GitHub and counted in points: ``graphql_points`` (``rateLimit.cost`` summed),
    ``graphql_remaining`` and ``graphql_queries`` (POSTs to ``/graphql``, not in ``requests``).
    """

    requests: int = 0
    not_modified: int = 0
    bytes: int = 0
    retries: int = 0
    waits: int = 0
    wait_seconds: float = 0.0
    parse_seconds: float = 0.0
    rate_limit_remaining: int | None = None
    rate_limit_reset: int | None = None
    graphql_points: int = 0
    graphql_remaining: int | None = None
    graphql_queries: int = 0

    @property
    def units(self) -> int:
        """REST rate-limit units spent: every request but the free 304s."""
        return self.requests - self.not_modified

    def __add__(self, other: ApiCost) -> ApiCost:
        return ApiCost(
            requests=self.requests + other.requests,
            not_modified=self.not_modified + other.not_modified,
            bytes=self.bytes + other.bytes,
            retries=self.retries + other.retries,
            waits=self.waits + other.waits,
            wait_seconds=self.wait_seconds + other.wait_seconds,
            parse_seconds=self.parse_seconds + other.parse_seconds,
            rate_limit_remaining=_lowest(self.rate_limit_remaining, other.rate_limit_remaining),
            rate_limit_reset=_latest(self.rate_limit_reset, other.rate_limit_reset),
            graphql_points=self.graphql_points + other.graphql_points,
            graphql_remaining=_lowest(self.graphql_remaining, other.graphql_remaining),
            graphql_queries=self.graphql_queries + other.graphql_queries,
        )


@dataclass(frozen=True)
class LoadCounts:
    """What one sync wrote (or, in a dry run, would write): the ``sync_runs`` row's counts.

    ``item_errors`` are items (one SHA's check runs, one PR) that failed on their own and were
    skipped; the repository's sync still succeeded.
    """

    prs_new: int = 0
    prs_updated: int = 0
    prs_unchanged: int = 0
    prs_deleted: int = 0
    check_runs_new: int = 0
    check_runs_updated: int = 0
    state_changes: int = 0
    item_errors: int = 0

    @property
    def rows_written(self) -> int:
        return (
            self.prs_new
            + self.prs_updated
            + self.prs_deleted
            + self.check_runs_new
            + self.check_runs_updated
        )

    def __add__(self, other: LoadCounts) -> LoadCounts:
        return LoadCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


SYNC_RUN_COST_COLUMNS: dict[str, str] = {
    "api_requests": "requests",
    "api_not_modified": "not_modified",
    "rate_limit_remaining": "rate_limit_remaining",
    "graphql_points": "graphql_points",
    "graphql_remaining": "graphql_remaining",
    "graphql_queries": "graphql_queries",
}
"""``sync_runs`` column → :class:`ApiCost` field."""

SYNC_RUN_COUNT_COLUMNS: tuple[str, ...] = (
    "prs_new",
    "prs_updated",
    "prs_unchanged",
    "prs_deleted",
    "check_runs_new",
    "check_runs_updated",
    "state_changes",
    "item_errors",
)
"""``sync_runs`` columns named exactly as the :class:`LoadCounts` fields they hold."""


def sync_run_values(cost: ApiCost, counts: LoadCounts) -> dict[str, int | None]:
    """The ``sync_runs`` columns these figures fill, by column name."""
    values: dict[str, int | None] = {
        column: getattr(cost, name) for column, name in SYNC_RUN_COST_COLUMNS.items()
    }
    values.update({column: getattr(counts, column) for column in SYNC_RUN_COUNT_COLUMNS})
    return values


def cost_figures(cost: ApiCost) -> dict[str, int | float | None]:
    """The cost under the names the CLI's JSON, the bench and the Dagster metadata show."""
    return {
        "api_requests": cost.requests,
        "api_not_modified": cost.not_modified,
        "api_units": cost.units,
        "api_bytes": cost.bytes,
        "retries": cost.retries,
        "rate_limit_waits": cost.waits,
        "rate_limit_wait_seconds": round(cost.wait_seconds, 3),
        "rate_limit_remaining": cost.rate_limit_remaining,
        "graphql_points": cost.graphql_points,
        "graphql_remaining": cost.graphql_remaining,
        "graphql_queries": cost.graphql_queries,
        "seconds_parse": round(cost.parse_seconds, 4),
    }


def count_figures(counts: LoadCounts) -> dict[str, int]:
    """The counts under their own names (the same in every output)."""
    return {f.name: getattr(counts, f.name) for f in fields(counts)}
