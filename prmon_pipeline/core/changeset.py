"""The changeset: what one sync would write to the warehouse, computed without touching it.

``compute_changeset`` compares what discovery saw on GitHub with a snapshot read from the
warehouse and returns a small typed value of Arrow tables plus counts. The load writes it in one
transaction, a dry run only reports it, and Dagster persists it between steps as Parquet
(``storage.changeset_files``). Everything is vectorised Polars: joins and column comparisons,
never a Python loop over rows.

``apply_changeset`` is the same change applied to in-memory tables. The warehouse does not use
it; the property tests do, to show that snapshot + changeset = what GitHub showed.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from prmon_pipeline.core.changeset_check_runs import (
    CheckRunDiff,
    diff_check_runs,
    reject_orphan_check_runs,
)
from prmon_pipeline.core.changeset_pull_requests import (
    DELETED_PULL_REQUEST_SCHEMA,
    PR_FIELD_CHANGE_SCHEMA,
    STATE_TRANSITION_SCHEMA,
    PullRequestDiff,
    diff_pull_requests,
)
from prmon_pipeline.core.models import SyncMode
from prmon_pipeline.core.normalise import (
    conform,
    normalise_check_runs,
    normalise_pull_requests,
    to_frame,
)
from prmon_pipeline.core.schemas import (
    CHECK_RUN_KEY,
    CHECK_RUN_SCHEMA,
    PULL_REQUEST_KEY,
    PULL_REQUEST_SCHEMA,
)

CHANGESET_TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "prs_new": PULL_REQUEST_SCHEMA,
    "prs_updated": PULL_REQUEST_SCHEMA,
    "pr_field_changes": PR_FIELD_CHANGE_SCHEMA,
    "state_transitions": STATE_TRANSITION_SCHEMA,
    "prs_deleted": DELETED_PULL_REQUEST_SCHEMA,
    "check_runs_new": CHECK_RUN_SCHEMA,
    "check_runs_updated": CHECK_RUN_SCHEMA,
}
"""Every table of a changeset and its schema, in the order they are documented and persisted."""

CHANGESET_COUNT_NAMES = ("prs_unchanged", "prs_stale", "check_runs_unchanged")
"""The counts a changeset carries that are not the length of one of its tables."""


@dataclass(frozen=True)
class Changeset:
    """What to write for one repository: rows to upsert, PRs to soft-delete, and what changed.

    ``prs_new`` and ``prs_updated`` hold full, canonical incoming rows (labels sorted, empty body
    null, UTC microseconds), ready to upsert. ``pr_field_changes`` and ``state_transitions`` are
    for reporting and dry runs; the database recomputes transitions inside its transaction.
    ``prs_stale`` counts incoming PRs older than the warehouse's copy, which are left alone.
    """

    prs_new: pa.Table
    prs_updated: pa.Table
    pr_field_changes: pa.Table
    state_transitions: pa.Table
    prs_deleted: pa.Table
    check_runs_new: pa.Table
    check_runs_updated: pa.Table
    prs_unchanged: int
    prs_stale: int
    check_runs_unchanged: int

    @property
    def prs_to_upsert(self) -> pa.Table:
        """New and updated PRs together, sorted by number: what the load merges."""
        return _sorted_union(self.prs_new, self.prs_updated, PULL_REQUEST_SCHEMA, PULL_REQUEST_KEY)

    @property
    def check_runs_to_upsert(self) -> pa.Table:
        """New and updated check runs together, sorted by (pr_number, github_id)."""
        return _sorted_union(
            self.check_runs_new, self.check_runs_updated, CHECK_RUN_SCHEMA, CHECK_RUN_KEY
        )

    @property
    def is_empty(self) -> bool:
        """Nothing to write: no new, updated or deleted PRs and no new or updated check runs.

        Unchanged and stale PRs do not count: a sync that only saw those changes nothing.
        """
        return not any(
            table.num_rows
            for table in (
                self.prs_new,
                self.prs_updated,
                self.prs_deleted,
                self.check_runs_new,
                self.check_runs_updated,
            )
        )

    def tables(self) -> dict[str, pa.Table]:
        """Every table by name (the keys of ``CHANGESET_TABLE_SCHEMAS``)."""
        return {name: getattr(self, name) for name in CHANGESET_TABLE_SCHEMAS}

    def counts(self) -> dict[str, int]:
        """The counts that are not table lengths (the keys of ``CHANGESET_COUNT_NAMES``)."""
        return {name: getattr(self, name) for name in CHANGESET_COUNT_NAMES}

    def field_change_counts(self) -> dict[str, int]:
        """How many updated PRs changed each field, e.g. ``{"title": 3, "updated_at": 12}``."""
        counted = (
            to_frame(self.pr_field_changes)
            .group_by("field")
            .agg(pl.len().alias("count"))
            .sort("field")
        )
        return dict(zip(counted["field"].to_list(), counted["count"].to_list(), strict=True))

    def summary(self) -> dict[str, int]:
        """Counts named like the ``sync_runs`` columns, for run metadata and the CLI."""
        return {
            "prs_new": self.prs_new.num_rows,
            "prs_updated": self.prs_updated.num_rows,
            "prs_unchanged": self.prs_unchanged,
            "prs_stale": self.prs_stale,
            "prs_deleted": self.prs_deleted.num_rows,
            "check_runs_new": self.check_runs_new.num_rows,
            "check_runs_updated": self.check_runs_updated.num_rows,
            "check_runs_unchanged": self.check_runs_unchanged,
            "state_changes": self.state_transitions.num_rows,
            "field_changes": self.pr_field_changes.num_rows,
        }


def _sorted_union(
    first: pa.Table, second: pa.Table, schema: pa.Schema, key: tuple[str, ...]
) -> pa.Table:
    """Both tables as one, by key. When one side is empty and the other already sorted (as it
    usually comes out of ``compute_changeset``), that side is returned without a sort: a first
    sync has no updated rows, and re-sorting 100,000 new PRs would copy ~200 MB of bodies."""
    only = first if second.num_rows == 0 else second if first.num_rows == 0 else None
    if only is not None and _is_sorted_by(only, key):
        return only.cast(schema)
    return (
        pa.concat_tables([first, second])
        .sort_by([(name, "ascending") for name in key])
        .cast(schema)
    )


def _is_sorted_by(table: pa.Table, key: tuple[str, ...]) -> bool:
    """Whether rows are in ascending lexicographic order of ``key`` (checked without sorting)."""
    frame = to_frame(table.select(list(key)))
    in_order = pl.lit(value=True)
    for name in reversed(key):  # (a, b) <= (a', b') ⟺ a < a' or (a == a' and b <= b')
        column, following = pl.col(name), pl.col(name).shift(-1)
        in_order = (column < following) | ((column == following) & in_order)
    return bool(frame.select(in_order.fill_null(value=True).all()).item())


def compute_changeset(
    incoming_prs: pa.Table,
    snapshot_prs: pa.Table,
    incoming_check_runs: pa.Table,
    snapshot_check_runs: pa.Table,
    mode: SyncMode,
) -> Changeset:
    """Compare what GitHub showed with the warehouse's snapshot of the same repository.

    Both sides are normalised first (``core.normalise``), so equivalent rows never show up as
    changes. ``incoming_prs`` is what discovery saw: changed PRs in incremental mode, every PR in
    full mode, one in single mode. ``snapshot_prs`` must hold every non-deleted PR the incoming
    tables touch (in full mode, the whole repository). Raises ``OrphanCheckRunsError`` when an
    incoming check run names a PR on neither side, and ``SchemaConformanceError`` when a table
    lacks a column of its schema.
    """
    if not any(t.num_rows for t in (incoming_prs, snapshot_prs, incoming_check_runs)):
        return empty_changeset()  # a steady cycle: nothing seen, nothing to compare
    incoming_pull_requests = normalise_pull_requests(incoming_prs)
    snapshot_pull_requests = normalise_pull_requests(snapshot_prs)
    incoming_runs = normalise_check_runs(incoming_check_runs)
    snapshot_runs = normalise_check_runs(snapshot_check_runs)

    known_pr_numbers = pl.concat(
        [incoming_pull_requests.select("number"), snapshot_pull_requests.select("number")]
    )
    reject_orphan_check_runs(incoming_runs, known_pr_numbers)

    pull_requests = diff_pull_requests(incoming_pull_requests, snapshot_pull_requests, mode)
    check_runs = diff_check_runs(incoming_runs, snapshot_runs)
    return assemble_changeset(pull_requests, check_runs)


def assemble_changeset(pull_requests: PullRequestDiff, check_runs: CheckRunDiff) -> Changeset:
    """One changeset of the two halves (the full comparison's, or the digest-first one's)."""
    return Changeset(
        prs_new=pull_requests.new,
        prs_updated=pull_requests.updated,
        pr_field_changes=pull_requests.field_changes,
        state_transitions=pull_requests.state_transitions,
        prs_deleted=pull_requests.deleted,
        check_runs_new=check_runs.new,
        check_runs_updated=check_runs.updated,
        prs_unchanged=pull_requests.unchanged,
        prs_stale=pull_requests.stale,
        check_runs_unchanged=check_runs.unchanged,
    )


def empty_changeset() -> Changeset:
    """The changeset of a sync that saw nothing: no rows, no counts."""
    return Changeset(
        prs_new=PULL_REQUEST_SCHEMA.empty_table(),
        prs_updated=PULL_REQUEST_SCHEMA.empty_table(),
        pr_field_changes=PR_FIELD_CHANGE_SCHEMA.empty_table(),
        state_transitions=STATE_TRANSITION_SCHEMA.empty_table(),
        prs_deleted=DELETED_PULL_REQUEST_SCHEMA.empty_table(),
        check_runs_new=CHECK_RUN_SCHEMA.empty_table(),
        check_runs_updated=CHECK_RUN_SCHEMA.empty_table(),
        prs_unchanged=0,
        prs_stale=0,
        check_runs_unchanged=0,
    )


def _upsert(
    existing: pa.Table, upserts: pa.Table, removed: pa.Table, schema: pa.Schema, key: list[str]
) -> pa.Table:
    """``existing`` without the keys of ``upserts`` and ``removed``, plus ``upserts``, by key."""
    kept = (
        to_frame(existing)
        .join(to_frame(upserts).select(key), on=key, how="anti")
        .join(to_frame(removed).select(key), on=key, how="anti")
    )
    combined = pa.concat_tables([conform(kept, schema), upserts.cast(schema)])
    return combined.sort_by([(name, "ascending") for name in key])


def apply_changeset(
    snapshot_prs: pa.Table, snapshot_check_runs: pa.Table, changeset: Changeset
) -> tuple[pa.Table, pa.Table]:
    """The snapshot after the changeset: upsert new and updated rows, drop deleted PRs.

    Soft-deleted PRs leave the result as they leave the snapshot reader's view; their check runs
    stay, as they stay in the warehouse. Stale and unchanged PRs keep the snapshot's row.
    """
    prs = _upsert(
        snapshot_prs,
        changeset.prs_to_upsert,
        changeset.prs_deleted,
        PULL_REQUEST_SCHEMA,
        list(PULL_REQUEST_KEY),
    )
    no_removed_runs = CHECK_RUN_SCHEMA.empty_table().select(list(CHECK_RUN_KEY))
    check_runs = _upsert(
        snapshot_check_runs,
        changeset.check_runs_to_upsert,
        no_removed_runs,
        CHECK_RUN_SCHEMA,
        list(CHECK_RUN_KEY),
    )
    return prs, check_runs
