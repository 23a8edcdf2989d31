"""One rule for state transitions: a dry run's history is the history the load writes.

The changeset (Polars) reports ``state_transitions`` for dry runs; the load computes
``pr_state_history`` in SQL inside its transaction. For the same input both must say the same,
including transitions away from ``merged`` that GitHub never shows but a replay of old rows can.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from prmon_pipeline.core.changeset import compute_changeset
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA
from prmon_pipeline.warehouse.audit import SyncAudit
from prmon_pipeline.warehouse.load import load_changeset
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline.warehouse.snapshot import read_snapshot
from prmon_pipeline.warehouse.status import read_state_transitions
from prmon_pipeline_tests.rows import T0, pull_request, pull_requests

Conn = psycopg.Connection[tuple[object, ...]]
LATER = T0 + timedelta(hours=5)
NO_RUNS = CHECK_RUN_SCHEMA.empty_table()


def _open(number: int, **changes: Any) -> dict[str, Any]:
    return pull_request(number, **changes)


def _closed(number: int, **changes: Any) -> dict[str, Any]:
    return pull_request(number, state="closed", closed_at=T0, **changes)


def _merged(number: int, **changes: Any) -> dict[str, Any]:
    return pull_request(number, state="merged", closed_at=T0, merged_at=T0, **changes)


# (stored before, incoming): None stored = first sight
CASES: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "first sight open": (None, _open(1)),
    "first sight merged": (None, _merged(2)),
    "open to closed": (_open(3), _closed(3, updated_at=LATER)),
    "closed to open": (_closed(4), _open(4, updated_at=LATER)),
    "open to merged": (_open(5), _merged(5, updated_at=LATER)),
    "closed to merged": (_closed(6), _merged(6, updated_at=LATER)),
    "merged to closed": (_merged(7), _closed(7, updated_at=LATER)),
    "merged to open": (_merged(8), _open(8, updated_at=LATER)),
    "merged to open, same updated_at": (_merged(9), _open(9, updated_at=T0 + timedelta(minutes=9))),
    "stale merged to open": (_merged(10), _open(10, updated_at=T0)),
    "unchanged merged": (_merged(11), _merged(11)),
}


@pytest.fixture
def repository_id(db: Conn) -> int:
    return add_repository(db, f"acme/states-{uuid.uuid4().hex[:8]}").id


def _load(db: Conn, repository_id: int, changeset_prs: Any) -> int:
    result = load_changeset(
        db,
        repository_id,
        pull_requests=changeset_prs,
        check_runs=NO_RUNS,
        deleted_numbers=(),
        cursors=SyncCursors(),
        audit=SyncAudit(mode="incremental", started_at=LATER),
        now=LATER,
    )
    return result.sync_run_id


@pytest.mark.parametrize("case", sorted(CASES))
def test_dry_run_transitions_equal_the_history_the_load_writes(
    db: Conn, repository_id: int, case: str
) -> None:
    stored, incoming = CASES[case]
    if stored is not None:
        _load(db, repository_id, pull_requests(stored))
    snapshot_prs, snapshot_runs = read_snapshot(db, repository_id, [incoming["number"]])
    changeset = compute_changeset(
        pull_requests(incoming), snapshot_prs, NO_RUNS, snapshot_runs, "incremental"
    )
    dry_run = [
        (row["number"], row["from_state"], row["to_state"])
        for row in changeset.state_transitions.to_pylist()
    ]

    sync_run_id = _load(db, repository_id, changeset.prs_to_upsert)

    written = [(n, a, b) for _, n, a, b in read_state_transitions(db, [sync_run_id])]
    assert dry_run == written
