"""Settling a batch's winners against the rows the warehouse holds (pure).

Called inside the load's transaction, under the repository's lock, with the stored rows of the
PRs the batch touches (``warehouse.snapshot.read_snapshot``): nothing can change in between, so
a winner equal to its stored row is a duplicate, an older one is out of order, and one as new
but different is a tie that only GitHub can settle (a targeted poll). Identity is the row digest
the load stores (``core.digests``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pyarrow as pa

from prmon_pipeline.core.digests import DIGEST_COLUMN, stored_check_runs, stored_pull_requests
from prmon_pipeline.core.webhook_events import (
    DeliveryVerdict,
    EventBatch,
    Outcome,
    SuiteHint,
    TargetedPolls,
)
from prmon_pipeline.core.webhook_ordering import rank


def settle_with_stored(
    batch: EventBatch, stored_prs: pa.Table, stored_runs: pa.Table, registered_name: str
) -> EventBatch:
    """Judge the batch's winners against the stored rows of the same PRs.

    A winner equal to its stored row is a duplicate, one older than it (``updated_at``, status
    rank) is out of order and left out, and one as new but different is a tie: left out and
    polled. Only rows that would change the warehouse stay in the tables. The move's verdict is
    ``duplicate`` when the registry already has that name.
    """
    verdicts = {v.delivery_id: v for v in batch.verdicts}
    prs, pr_polls = _settle_prs(batch, stored_prs, verdicts)
    runs, run_polls = _settle_runs(batch, stored_runs, verdicts)
    move = batch.move
    if move is not None and move.full_name.lower() == registered_name.lower():
        verdicts[move.delivery_id] = DeliveryVerdict(move.delivery_id, "duplicate", "same name")
        move = None
    elif move is not None:
        verdicts[move.delivery_id] = DeliveryVerdict(move.delivery_id, "applied", None)
    return replace(
        batch,
        pull_requests=prs,
        check_runs=runs,
        verdicts=tuple(sorted(verdicts.values(), key=lambda v: v.delivery_id)),
        polls=batch.polls | pr_polls | run_polls,
        move=move,
    )


def _digested_rows(digested: pa.Table, columns: list[str]) -> list[dict[str, Any]]:
    """The ``columns`` and digest of rows as the load would store them."""
    return digested.select([*columns, DIGEST_COLUMN]).to_pylist()


def _judge(
    sources: tuple[int, ...], outcome: Outcome, reason: str, verdicts: dict[int, DeliveryVerdict]
) -> None:
    """The winner's new verdict (its duplicates in the batch stay duplicates of it)."""
    verdicts[sources[0]] = DeliveryVerdict(sources[0], outcome, reason)


def _settle_prs(
    batch: EventBatch, stored: pa.Table, verdicts: dict[int, DeliveryVerdict]
) -> tuple[pa.Table, TargetedPolls]:
    columns = ["number", "updated_at"]
    known = {row["number"]: row for row in _digested_rows(stored_pull_requests(stored), columns)}
    incoming = _digested_rows(stored_pull_requests(batch.pull_requests), columns)
    keep: list[int] = []
    polls: set[int] = set()
    for index, row in enumerate(incoming):
        sources = batch.pr_sources[row["number"]]
        old = known.get(row["number"])
        if old is None:
            keep.append(index)
        elif old[DIGEST_COLUMN] == row[DIGEST_COLUMN]:
            _judge(sources, "duplicate", "already stored", verdicts)
        elif old["updated_at"] > row["updated_at"]:
            _judge(sources, "out_of_order", "the stored row is newer", verdicts)
        elif old["updated_at"] == row["updated_at"]:
            polls.add(row["number"])
            _judge(sources, "polled", "same updated_at as stored, other content: polled", verdicts)
        else:
            keep.append(index)
    table = batch.pull_requests.take(pa.array(keep, pa.int64()))
    return table, TargetedPolls(pull_requests=frozenset(polls))


RUN_FATES: tuple[Outcome, ...] = ("applied", "polled", "out_of_order", "duplicate")
"""A run attached to several PRs: its delivery's verdict is the first fate any row met."""


def _settle_runs(
    batch: EventBatch, stored: pa.Table, verdicts: dict[int, DeliveryVerdict]
) -> tuple[pa.Table, TargetedPolls]:
    columns = ["pr_number", "github_id", "status"]
    known = {
        (row["pr_number"], row["github_id"]): row
        for row in _digested_rows(stored_check_runs(stored), columns)
    }
    incoming = _digested_rows(stored_check_runs(batch.check_runs), columns)
    keep: list[int] = []
    fates: dict[int, set[Outcome]] = {}
    polls: set[int] = set()
    for index, row in enumerate(incoming):
        old = known.get((row["pr_number"], row["github_id"]))
        fate: Outcome
        if old is None or rank(old["status"]) < rank(row["status"]):
            fate = "applied"
            keep.append(index)
        elif old[DIGEST_COLUMN] == row[DIGEST_COLUMN]:
            fate = "duplicate"
        elif rank(old["status"]) > rank(row["status"]):
            fate = "out_of_order"
        else:
            fate = "polled"
            polls.add(row["github_id"])
        fates.setdefault(row["github_id"], set()).add(fate)
    for run_id, seen in fates.items():
        fate = next(f for f in RUN_FATES if f in seen)
        if fate != "applied":
            _judge(batch.run_sources[run_id], fate, f"against the stored run: {fate}", verdicts)
    table = batch.check_runs.take(pa.array(keep, pa.int64()))
    return table, TargetedPolls(check_runs=frozenset(polls))


StoredSuiteRuns = dict[tuple[str, str | None], tuple[int, bool]]
"""(head SHA, app slug) → (distinct check runs the warehouse holds, all of them completed)."""


def settled_suites(suites: list[SuiteHint], stored: StoredSuiteRuns) -> dict[int, str]:
    """The ``check_suite.completed`` deliveries that need no poll, with why: the warehouse
    (after this batch's load) already holds at least the suite's run count for that app on that
    SHA, every one completed. The poll is the net for a lost ``check_run.completed``; when
    nothing was lost it would spend a unit to read what is stored."""
    settled: dict[int, str] = {}
    for hint in suites:
        have = stored.get((hint.head_sha, hint.app_slug))
        if hint.runs is None or have is None:
            continue
        count, completed = have
        if completed and count >= hint.runs:
            settled[hint.delivery_id] = f"check suite's {hint.runs} runs already stored completed"
    return settled


def without_settled_suites(
    batch: EventBatch, suites: list[SuiteHint], settled: dict[int, str]
) -> EventBatch:
    """The batch with the settled ``check_suite.completed`` deliveries judged duplicates and
    their SHAs no longer polled (a SHA stays polled while any of its suites is unsettled)."""
    if not settled:
        return batch
    unsettled = {h.head_sha for h in suites if h.delivery_id not in settled}
    dropped = {h.head_sha for h in suites if h.delivery_id in settled} - unsettled
    verdicts = tuple(
        DeliveryVerdict(v.delivery_id, "duplicate", settled[v.delivery_id])
        if v.delivery_id in settled
        else v
        for v in batch.verdicts
    )
    polls = replace(batch.polls, head_shas=batch.polls.head_shas - dropped)
    return replace(batch, verdicts=verdicts, polls=polls)
