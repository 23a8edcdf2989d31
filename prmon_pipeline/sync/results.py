"""Typed figures of one repository's sync, for the CLI, the bench and the Dagster metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.core.costs import ApiCost, LoadCounts, cost_figures, count_figures
from prmon_pipeline.core.errors import BudgetReservedError, PrmonError
from prmon_pipeline.core.models import SyncMode
from prmon_pipeline.core.webhook_events import DeliveryCounts
from prmon_pipeline.github.discovery import DiscoveryResult


class SyncError(PrmonError):
    """A repository's sync failed at a named stage; ``recorded`` says the failure is stored.

    ``deferred``: it did not fail but stopped at ``--max-budget-share`` (nothing stored, cursors
    unmoved); the next cycle resumes it.
    """

    def __init__(
        self, repository: str, stage: str, cause: BaseException, *, recorded: bool = True
    ) -> None:
        super().__init__(f"{repository}: {stage} failed: {one_line(cause)}")
        self.repository = repository
        self.stage = stage
        self.recorded = recorded
        self.transient = bool(getattr(cause, "transient", False))
        self.deferred = isinstance(cause, BudgetReservedError)


def one_line(error: BaseException) -> str:
    """The first line of an error's message, or its type when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True)
class RepositoryFigures:
    """What one repository's sync saw, wrote and cost; kept when its tables are dropped."""

    repository: str
    mode: SyncMode
    dry_run: bool
    sync_run_id: int
    prs_seen: int
    check_runs_seen: int
    counts: LoadCounts
    cost: ApiCost
    seconds: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (discovery, parse — a part of discovery —, snapshot, changeset, load)."""
    renamed_to: str | None = None
    replaced: str | None = None
    """The name's earlier repository was retired in this run, and why."""
    item_failures: tuple[str, ...] = ()
    """Items GitHub refused (a commit gone, a PR gone): skipped and backed off, not fatal."""
    deliveries: DeliveryCounts | None = None
    """An events run's deliveries by outcome (None for a poll)."""

    @property
    def total_seconds(self) -> float:
        return sum(s for stage, s in self.seconds.items() if stage != "parse")

    def as_dict(self) -> dict[str, object]:
        """Flat figures for JSON output: the same names as the ``sync_runs`` columns."""
        return {
            "repository": self.repository,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "sync_run_id": self.sync_run_id,
            "prs_seen": self.prs_seen,
            "check_runs_seen": self.check_runs_seen,
            **count_figures(self.counts),
            **cost_figures(self.cost),
            "renamed_to": self.renamed_to,
            "replaced": self.replaced,
            "item_failures": list(self.item_failures),
            **delivery_figures(self.deliveries),
            **{f"seconds_{stage}": round(s, 4) for stage, s in self.seconds.items()},
        }


def delivery_figures(counts: DeliveryCounts | None) -> dict[str, int]:
    """An events run's delivery counts under the names the CLI's JSON and Dagster show."""
    if counts is None:
        return {}
    return {
        "deliveries_applied": counts.applied,
        "deliveries_duplicates": counts.duplicates,
        "deliveries_out_of_order_skipped": counts.out_of_order_skipped,
        "deliveries_polled": counts.polled,
        "deliveries_parked": counts.parked,
        "deliveries_ignored": counts.ignored,
        "deliveries_rejected": counts.rejected,
    }


@dataclass(frozen=True)
class SyncResult:
    """One repository's sync with its tables (``sync_repository``'s answer)."""

    figures: RepositoryFigures
    changeset: Changeset
    discovery: DiscoveryResult

    @property
    def repository(self) -> str:
        return self.figures.repository


@dataclass(frozen=True)
class SyncOutcome:
    """One repository's result in a multi-repository sync: its figures, or the error it met.

    Only the figures are kept, not the tables: a sync of a hundred repositories must not hold
    every repository's PRs and check runs until the last one is done.
    """

    repository: str
    figures: RepositoryFigures | None = None
    error: SyncError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
