"""Ordering decoded deliveries: newest PR wins, highest check-run status wins (pure).

:func:`assemble_batch` orders the records of one batch among themselves and attaches check runs
to PRs by head SHA; ``core.webhook_settlement`` then judges the winners against the rows the
warehouse holds. Identity of content is the row digest of ``core.digests``, the one the
load stores, so "duplicate" means exactly "the load would change nothing".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from prmon_pipeline.core.digests import DIGEST_COLUMN, stored_check_runs, stored_pull_requests
from prmon_pipeline.core.errors import MalformedResponseError
from prmon_pipeline.core.github_json import parse_check_runs, parse_pull_requests
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.core.sql_text import CHECK_RUN_STATUS_RANK
from prmon_pipeline.core.webhook_events import (
    PARK_WINDOW,
    DecodedDeliveries,
    DeliveryVerdict,
    EventBatch,
    Outcome,
    RepositoryMove,
    TargetedPolls,
)


@dataclass(frozen=True)
class _Record:
    """One parsed record: its row in the parsed table, its delivery, and what orders it."""

    index: int
    delivery_id: int
    key: int
    order: Any
    digest: bytes
    received_at: datetime | None = None


def rank(status: str) -> int:
    """A check run's place in its life cycle (``queued`` < ``in_progress`` < ``completed``)."""
    return CHECK_RUN_STATUS_RANK.get(status, 0)


def assemble_batch(
    decoded: DecodedDeliveries,
    repository: str,
    known_heads: Mapping[int, str],
    now: datetime,
) -> EventBatch:
    """Order one repository's records and attach its check runs (see ``core.webhook_events``).

    ``known_heads`` maps the warehouse's PR numbers to their head SHA (at least those PRs whose
    head is one of ``decoded.check_run_head_shas``); the batch's own PRs are added to it.
    """
    verdicts = list(decoded.verdicts)
    polls = TargetedPolls()
    for delivery_id, poll, reason in decoded.polls:
        verdicts.append(DeliveryVerdict(delivery_id, "polled", reason))
        polls = polls | poll
    prs, pr_records, pr_polls = _parse_prs(decoded, repository, verdicts)
    pr_winners, pr_sources, tie_polls = _order(pr_records, verdicts, _pr_tie)
    for record in pr_winners:
        verdicts += _applied(record, pr_sources[record.key], "same pull request again")
    runs, run_records, run_polls = _parse_runs(decoded, repository, verdicts)
    run_winners, run_sources, run_ties = _order(run_records, verdicts, _run_tie)
    # Only PRs this load stores (or the warehouse holds) may own a run: a PR whose records tie
    # is polled instead, and its runs wait (parked) until it is stored.
    winners = prs.take(pa.array(sorted(r.index for r in pr_winners), pa.int64()))
    heads = heads_of_batch(known_heads, winners)
    check_runs, attached = _attach(runs, run_winners, heads, run_sources, now, verdicts)
    move = _newest_move(decoded.moves, verdicts)
    return EventBatch(
        pull_requests=winners,
        check_runs=check_runs,
        verdicts=tuple(sorted(verdicts, key=lambda v: v.delivery_id)),
        polls=polls | pr_polls | tie_polls | run_polls | run_ties,
        move=move,
        pr_sources=pr_sources,
        run_sources={key: run_sources[key] for key in attached},
    )


def _parse_all(
    parse: Callable[[list[dict[str, Any]]], pa.Table],
    items: list[dict[str, Any]],
    empty: pa.Table,
) -> tuple[pa.Table, list[int]]:
    """All items in one parse; when one is malformed, item by item. Returns the table and the
    positions of the items it holds (the rest were refused)."""
    if not items:
        return empty, []
    try:
        return parse(items), list(range(len(items)))
    except MalformedResponseError:
        tables, kept = [], []
        for position, item in enumerate(items):
            try:
                tables.append(parse([item]))
            except MalformedResponseError:
                continue
            kept.append(position)
        return (pa.concat_tables(tables) if tables else empty), kept


def _parse_prs(
    decoded: DecodedDeliveries, repository: str, verdicts: list[DeliveryVerdict]
) -> tuple[pa.Table, list[_Record], TargetedPolls]:
    """Parse every PR object; a refused one becomes a poll of its number (or a rejection)."""
    items = [pr for _, pr in decoded.pull_requests]
    table, kept = _parse_all(
        lambda batch: parse_pull_requests(batch, repository),
        items,
        PULL_REQUEST_SCHEMA.empty_table(),
    )
    polls: set[int] = set()
    for position in set(range(len(items))) - set(kept):
        delivery_id, pr = decoded.pull_requests[position]
        number = pr.get("number")
        if isinstance(number, int) and not isinstance(number, bool):
            polls.add(number)
            reason = f"pull request #{number} unreadable: poll it"
            verdicts.append(DeliveryVerdict(delivery_id, "polled", reason))
        else:
            verdicts.append(DeliveryVerdict(delivery_id, "rejected", "unreadable pull request"))
    digests = [bytes(d) for d in stored_pull_requests(table).column(DIGEST_COLUMN).to_pylist() if d]
    rows = table.select(["number", "updated_at"]).to_pylist()
    records = [
        _Record(i, decoded.pull_requests[p][0], row["number"], row["updated_at"], digests[i])
        for i, (p, row) in enumerate(zip(kept, rows, strict=True))
    ]
    return table, records, TargetedPolls(pull_requests=frozenset(polls))


def _parse_runs(
    decoded: DecodedDeliveries, repository: str, verdicts: list[DeliveryVerdict]
) -> tuple[pa.Table, list[_Record], TargetedPolls]:
    """Parse every run (on PR 0 for now); a refused one becomes a poll of its head SHA."""
    items = [run for _, run, _ in decoded.check_runs]
    table, kept = _parse_all(
        lambda batch: parse_check_runs(batch, repository, 0), items, CHECK_RUN_SCHEMA.empty_table()
    )
    shas: set[str] = set()
    for position in set(range(len(items))) - set(kept):
        delivery_id, run, _ = decoded.check_runs[position]
        shas.add(str(run["head_sha"]))
        reason = f"check run unreadable: poll {run['head_sha']}"
        verdicts.append(DeliveryVerdict(delivery_id, "polled", reason))
    digests = [bytes(d) for d in stored_check_runs(table).column(DIGEST_COLUMN).to_pylist() if d]
    rows = table.select(["github_id", "status"]).to_pylist()
    records = []
    for i, (p, row) in enumerate(zip(kept, rows, strict=True)):
        delivery_id, _, received_at = decoded.check_runs[p]
        order = rank(row["status"])
        records.append(_Record(i, delivery_id, row["github_id"], order, digests[i], received_at))
    return table, records, TargetedPolls(head_shas=frozenset(shas))


def _pr_tie(key: int) -> TargetedPolls:
    return TargetedPolls(pull_requests=frozenset({key}))


def _run_tie(key: int) -> TargetedPolls:
    return TargetedPolls(check_runs=frozenset({key}))


def _order(
    records: list[_Record],
    verdicts: list[DeliveryVerdict],
    tie: Callable[[int], TargetedPolls],
) -> tuple[list[_Record], dict[int, tuple[int, ...]], TargetedPolls]:
    """Per key: the newest record wins, identical ones are duplicates, older ones out of order;
    newest records that differ among themselves are a tie, settled by a poll of the key."""
    by_key: dict[int, list[_Record]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record)
    winners: list[_Record] = []
    sources: dict[int, tuple[int, ...]] = {}
    polls = TargetedPolls()
    for key, group in by_key.items():
        newest = max(r.order for r in group)
        top = sorted((r for r in group if r.order == newest), key=lambda r: r.delivery_id)
        for record in group:
            if record.order != newest:
                verdicts.append(_outcome(record, "out_of_order", "a newer record arrived"))
        if len({r.digest for r in top}) > 1:
            polls = polls | tie(key)
            for record in top:
                verdicts.append(_outcome(record, "polled", "same order, other content: polled"))
            continue
        winners.append(top[0])
        sources[key] = tuple(r.delivery_id for r in top)
    return winners, sources, polls


def _applied(record: _Record, sources: tuple[int, ...], again: str) -> list[DeliveryVerdict]:
    """The winner applied, the identical records after it duplicates."""
    return [
        _outcome(record, "applied", None),
        *(DeliveryVerdict(d, "duplicate", again) for d in sources[1:]),
    ]


def _outcome(record: _Record, outcome: Outcome, reason: str | None) -> DeliveryVerdict:
    return DeliveryVerdict(record.delivery_id, outcome, reason)


def _attach(  # noqa: PLR0917 - one private step of assemble_batch, its state passed whole
    runs: pa.Table,
    winners: list[_Record],
    heads: dict[str, set[int]],
    sources: dict[int, tuple[int, ...]],
    now: datetime,
    verdicts: list[DeliveryVerdict],
) -> tuple[pa.Table, list[int]]:
    """One row per (PR whose head is the run's SHA, winning run); runs no PR points at wait."""
    indices: list[int] = []
    numbers: list[int] = []
    attached: list[int] = []
    shas = runs.column("head_sha").to_pylist()
    for record in winners:
        sha = str(shas[record.index])
        prs = sorted(heads.get(sha, ()))
        if prs:
            indices += [record.index] * len(prs)
            numbers += prs
            attached.append(record.key)
            verdicts += _applied(record, sources[record.key], "same check run again")
            continue
        for delivery_id in sources[record.key]:
            waited = record.received_at is not None and now - record.received_at > PARK_WINDOW
            outcome: Outcome = "ignored" if waited else "parked"
            verdicts.append(
                DeliveryVerdict(delivery_id, outcome, f"no pull request has head {sha}")
            )
    table = runs.take(pa.array(indices, pa.int64()))
    table = table.set_column(0, CHECK_RUN_SCHEMA.field("pr_number"), pa.array(numbers, pa.int64()))
    return table.cast(CHECK_RUN_SCHEMA), attached


def _newest_move(
    moves: list[RepositoryMove], verdicts: list[DeliveryVerdict]
) -> RepositoryMove | None:
    """The newest rename/transfer (by the repository's ``updated_at``, then arrival)."""
    if not moves:
        return None
    ordered = sorted(moves, key=lambda m: (m.updated_at, m.delivery_id))
    newest = ordered[-1]
    for move in ordered[:-1]:
        outcome: Outcome = "duplicate" if move.full_name == newest.full_name else "out_of_order"
        verdicts.append(DeliveryVerdict(move.delivery_id, outcome, "a newer move arrived"))
    return newest


def attach_by_head(runs: pa.Table, heads: Mapping[str, Iterable[int]]) -> pa.Table:
    """Runs parsed on PR 0, one row per PR whose head is the run's SHA (none: dropped)."""
    indices: list[int] = []
    numbers: list[int] = []
    for index, sha in enumerate(runs.column("head_sha").to_pylist()):
        prs = sorted(set(heads.get(str(sha), ())))
        indices += [index] * len(prs)
        numbers += prs
    table = runs.take(pa.array(indices, pa.int64()))
    table = table.set_column(0, CHECK_RUN_SCHEMA.field("pr_number"), pa.array(numbers, pa.int64()))
    return table.cast(CHECK_RUN_SCHEMA)


def heads_of_batch(known_heads: Mapping[int, str], prs: pa.Table) -> dict[str, set[int]]:
    """Head SHA → PR numbers, from the warehouse and from every PR record of a batch."""
    heads: dict[str, set[int]] = {}
    for number, sha in known_heads.items():
        heads.setdefault(sha, set()).add(number)
    for row in prs.select(["number", "head_sha"]).to_pylist():
        heads.setdefault(row["head_sha"], set()).add(row["number"])
    return heads
