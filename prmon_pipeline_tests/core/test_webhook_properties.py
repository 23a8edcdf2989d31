"""Delivery order does not matter (hypothesis): any order, duplication and batching of a set of
deliveries leaves the same rows as the deliveries in the order the changes happened.

The warehouse is played in memory by ``core.changeset.apply_changeset``; each batch is ordered,
settled against it and diffed exactly as ``sync.event_load`` does inside its transaction, and
parked runs stay pending for the next batch as their inbox rows do. The PostgreSQL twin of this
test is in ``prmon_pipeline_tests/sync/test_events_properties.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from prmon_pipeline.core.changeset import apply_changeset, compute_changeset
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.core.webhook_events import PendingDelivery, decode_deliveries
from prmon_pipeline.core.webhook_ordering import assemble_batch
from prmon_pipeline.core.webhook_settlement import settle_with_stored
from prmon_pipeline_tests.webhook_objects import (
    T0,
    pr_delivery,
    pr_object,
    run_delivery,
    run_object,
    sha_of,
    stamp,
)

NAME = "acme/widgets"
STATUSES = ("queued", "in_progress", "completed")


@dataclass(frozen=True)
class History:
    """What happened, in order: PR versions (newer ``updated_at`` each) and run stages."""

    deliveries: list[PendingDelivery]


@st.composite
def histories(draw: st.DrawFn) -> History:
    """1-3 PRs with 1-4 versions each, their runs through 1-3 life-cycle stages, by time."""
    events: list[tuple[int, str, dict[str, object]]] = []
    for number in range(1, draw(st.integers(1, 3)) + 1):
        for version in range(1, draw(st.integers(1, 4)) + 1):
            closed = version % 2 == 0
            pr = pr_object(
                number,
                10 * version,
                title=f"#{number} v{version}",
                state="closed" if closed else "open",
                closed_at=stamp(10 * version) if closed else None,
            )
            events.append((10 * version, "pull_request", pr))
        for run_id in range(draw(st.integers(0, 2))):
            for stage in range(draw(st.integers(1, 3))):
                run = run_object(100 * number + run_id, sha_of(number), STATUSES[stage])
                events.append((10 * stage + 5, "check_run", run))
    events.sort(key=lambda event: event[0])
    deliveries = [
        pr_delivery(i, body) if kind == "pull_request" else run_delivery(i, body)
        for i, (_, kind, body) in enumerate(events, start=1)
    ]
    return History(deliveries)


def fold(batches: list[list[PendingDelivery]]) -> tuple[pa.Table, pa.Table]:
    """Apply batch after batch to an empty in-memory warehouse; parked runs wait for the next."""
    prs, runs = PULL_REQUEST_SCHEMA.empty_table(), CHECK_RUN_SCHEMA.empty_table()
    waiting: list[PendingDelivery] = []
    for batch in [*batches, []]:  # a last, empty round judges what still waits
        deliveries = sorted(waiting + batch, key=lambda d: d.id)
        heads = dict(
            zip(prs.column("number").to_pylist(), prs.column("head_sha").to_pylist(), strict=True)
        )
        decoded = assemble_batch(decode_deliveries(deliveries), NAME, heads, T0)
        settled = settle_with_stored(decoded, prs, runs, NAME)
        assert settled.polls.count == 0  # distinct content per updated_at and per stage
        changeset = compute_changeset(
            settled.pull_requests, prs, settled.check_runs, runs, "events"
        )
        prs, runs = apply_changeset(prs, runs, changeset)
        parked = {v.delivery_id for v in settled.verdicts if v.status == "pending"}
        waiting = [d for d in deliveries if d.id in parked]
    assert not waiting
    return prs, runs


@settings(max_examples=40, deadline=None)
@given(
    history=histories(),
    data=st.data(),
)
def test_any_order_duplication_and_batching_stores_the_same_rows(
    history: History, data: st.DataObject
) -> None:
    in_order = fold([history.deliveries])
    copies = data.draw(st.lists(st.sampled_from(history.deliveries), max_size=5))
    shuffled = data.draw(st.permutations(history.deliveries + copies))
    renumbered = [
        PendingDelivery(i, d.event, d.action, d.body, d.content_type, d.received_at)
        for i, d in enumerate(shuffled, start=1)
    ]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(renumbered)), max_size=3)))
    batches = [renumbered[a:b] for a, b in zip([0, *cuts], [*cuts, len(renumbered)], strict=True)]

    prs, runs = fold(batches)

    assert prs.equals(in_order[0]) and runs.equals(in_order[1])
    assert prs.column("title").to_pylist() == newest_titles(history)
    assert runs.column("status").to_pylist() == furthest_statuses(history)


def newest_titles(history: History) -> list[str]:
    """Each PR's last version's title, by number: what the in-order deliveries end with."""
    titles: dict[int, str] = {}
    for delivery in history.deliveries:
        if delivery.event == "pull_request":
            pr = orjson.loads(delivery.body)["pull_request"]
            titles[pr["number"]] = pr["title"]
    return [titles[n] for n in sorted(titles)]


def furthest_statuses(history: History) -> list[str]:
    """Each run's last stage, by (PR, run id)."""
    statuses: dict[int, str] = {}
    for delivery in history.deliveries:
        if delivery.event == "check_run":
            run = orjson.loads(delivery.body)["check_run"]
            statuses[run["id"]] = run["status"]
    return [statuses[i] for i in sorted(statuses)]
