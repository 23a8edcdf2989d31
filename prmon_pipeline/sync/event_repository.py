"""One repository's deliveries: its load transactions, then the targeted polls if any.

Per repository: its pending deliveries in load transactions of up to ``BATCH_DELIVERIES``
(``sync.event_load``: one transaction loads them and marks them), then, only if the payloads
left something unsettled, the targeted polls (``github.targeted``) and one more load. A poll
that fails is logged and left to the repository's next regular poll: its deliveries stay
applied as far as they could be. Timing and failure recording are the runner's
(:class:`~prmon_pipeline.sync.runner.RepositoryRun`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from prmon_pipeline.core.costs import ApiCost, LoadCounts
from prmon_pipeline.core.errors import GitHubError
from prmon_pipeline.core.models import ItemFailure
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.core.webhook_events import DeliveryCounts, TargetedPolls
from prmon_pipeline.github.client import GitHubClient, RequestTally
from prmon_pipeline.github.targeted import poll_targets
from prmon_pipeline.warehouse.repositories import Repository
from prmon_pipeline.warehouse.webhook_pending import BATCH_DELIVERIES

from .event_load import AppliedDeliveries, apply_deliveries, load_polled
from .options import SyncOptions
from .results import RepositoryFigures
from .runner import RepositoryRun
from .stages import Now, utc_now

log = logging.getLogger(__name__)


@dataclass
class _Applied:
    """What one repository's rounds added up to."""

    rounds: list[AppliedDeliveries] = field(default_factory=list)
    counts: LoadCounts = field(default_factory=LoadCounts)
    polled_rows: tuple[int, int] = (0, 0)
    failures: list[str] = field(default_factory=list)

    @property
    def polls(self) -> TargetedPolls:
        polls = TargetedPolls()
        for applied in self.rounds:
            polls = polls | applied.batch.polls
        return polls


async def apply_repository(
    database_url: str,
    client: GitHubClient,
    repository: Repository,
    options: SyncOptions,
    *,
    now: Now = utc_now,
) -> RepositoryFigures | None:
    """Apply one repository's pending deliveries; None when another applier took them first."""
    run = RepositoryRun(database_url, repository.full_name, options, now)
    run.repository = repository
    applied = _Applied()
    while True:
        one = await run.blocking("apply", _applying(run, now))
        if one is None:
            break
        applied.rounds.append(one)
        applied.counts += one.load.counts
        if one.renamed_to:
            key = parse_repo_key(one.renamed_to)
            assert run.repository is not None
            moved = replace(run.repository, owner=key.owner, name=key.name)
            run.repository = replace(moved, full_name=str(key))
        if one.deliveries < BATCH_DELIVERIES or _only_parked(one):
            break
    if not applied.rounds:
        return None
    tally = RequestTally()
    if applied.polls.count:
        await _targeted(run, client, applied, tally, now)
    return _figures(run, applied, tally.cost())


def _only_parked(applied: AppliedDeliveries) -> bool:
    """A full batch of parked check runs only: what follows them is parked too (fresh rows are
    read first), so another batch would read the same rows again."""
    return all(v.status == "pending" for v in applied.verdicts)


def _applying(run: RepositoryRun, now: Now) -> Callable[[], AppliedDeliveries | None]:
    """One transaction of the repository's deliveries, under its name of the moment."""
    repository = run.repository
    assert repository is not None
    return lambda: apply_deliveries(
        run.database_url, repository, run.options, started_at=run.began, now=now()
    )


async def _targeted(
    run: RepositoryRun, client: GitHubClient, applied: _Applied, tally: RequestTally, now: Now
) -> None:
    """The targeted polls and their load; a poll GitHub refuses is logged, not fatal."""
    repository = run.repository
    assert repository is not None
    start = time.perf_counter()
    try:
        records = await poll_targets(client, repository.full_name, applied.polls, tally)
    except GitHubError as error:
        log.warning(
            "%s: targeted poll failed (%s); its deliveries are applied as far as they could be"
            " and the repository's next poll repairs the rest",
            repository.full_name,
            error,
        )
        applied.failures.append(f"targeted poll: {error}")
        return
    finally:
        run.durations["targeted polls"] = time.perf_counter() - start
    applied.failures += [_failure(f) for f in records.failures]
    prs, runs = records.tables()
    if prs.num_rows == 0 and runs.num_rows == 0:
        return
    _, load = await run.blocking(
        "targeted load",
        lambda: load_polled(
            run.database_url,
            repository,
            prs,
            runs,
            run.options,
            cost=tally.cost(),
            started_at=run.began,
            now=now(),
        ),
    )
    applied.counts += load.counts
    applied.polled_rows = (prs.num_rows, runs.num_rows)


def _failure(failure: ItemFailure) -> str:
    return f"{failure.kind} {failure.key}: {failure.message}"


def _figures(run: RepositoryRun, applied: _Applied, cost: ApiCost) -> RepositoryFigures:
    deliveries = DeliveryCounts()
    for one in applied.rounds:
        deliveries += DeliveryCounts.of(one.verdicts)
    renamed = [one.renamed_to for one in applied.rounds if one.renamed_to]
    return RepositoryFigures(
        repository=run.name,
        mode="events",
        dry_run=False,
        sync_run_id=applied.rounds[0].load.sync_run_id,
        prs_seen=sum(one.records_seen[0] for one in applied.rounds) + applied.polled_rows[0],
        check_runs_seen=sum(one.records_seen[1] for one in applied.rounds) + applied.polled_rows[1],
        counts=applied.counts,
        cost=cost,
        seconds=dict(run.durations),
        renamed_to=renamed[-1] if renamed else None,
        item_failures=tuple(applied.failures),
        deliveries=deliveries,
    )
