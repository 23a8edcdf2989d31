"""What changed between the pull requests GitHub showed and the warehouse's snapshot of them.

Both sides arrive in canonical form (``core.normalise``). One anti-join finds new PRs, one inner
join pairs the rest, and one ``with_columns`` adds a "changed" flag per field; every later table
(updated rows, field changes, state transitions) is a filter or a select over that paired frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from prmon_pipeline.core.models import SyncMode
from prmon_pipeline.core.normalise import conform, polars_schema
from prmon_pipeline.core.schemas import (
    PULL_REQUEST_COLUMNS,
    PULL_REQUEST_KEY,
    PULL_REQUEST_SCHEMA,
    TEXT,
)
from prmon_pipeline.core.state_history import recorded_transition_expr

SNAPSHOT_SUFFIX = "__snapshot"
CHANGED_SUFFIX = "__changed"
COMPARED_PULL_REQUEST_COLUMNS: tuple[str, ...] = tuple(
    name for name in PULL_REQUEST_COLUMNS if name not in PULL_REQUEST_KEY
)
TIMESTAMP_TEXT_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"

_PR_FIELD_CHANGE_FIELDS: list[pa.Field[Any]] = [
    pa.field("number", pa.int64(), nullable=False),
    pa.field("field", TEXT, nullable=False),
    pa.field("old_value", TEXT),
    pa.field("new_value", TEXT),
]
PR_FIELD_CHANGE_SCHEMA = pa.schema(_PR_FIELD_CHANGE_FIELDS)
"""One row per (updated PR, changed field); values as text so one table holds every field's type.

Timestamps are ISO 8601 in UTC (``2024-05-01T12:00:00.000000Z``), lists are JSON arrays,
booleans ``true``/``false``; null stays null.
"""

_STATE_TRANSITION_FIELDS: list[pa.Field[Any]] = [
    pa.field("number", pa.int64(), nullable=False),
    pa.field("from_state", TEXT),
    pa.field("to_state", TEXT, nullable=False),
]
STATE_TRANSITION_SCHEMA = pa.schema(_STATE_TRANSITION_FIELDS)
"""One row per observed state change; ``from_state`` is null when the PR is first seen."""

DELETED_PULL_REQUEST_SCHEMA = pa.schema([pa.field("number", pa.int64(), nullable=False)])
"""Numbers of PRs a full sync no longer finds on GitHub: soft-deleted by the load."""


@dataclass(frozen=True)
class PullRequestDiff:
    """The pull-request half of a changeset (see ``core.changeset.Changeset``)."""

    new: pa.Table
    updated: pa.Table
    field_changes: pa.Table
    state_transitions: pa.Table
    deleted: pa.Table
    unchanged: int
    stale: int


def snapshot_column(name: str) -> str:
    """The name the snapshot's copy of ``name`` takes in the paired frame."""
    return f"{name}{SNAPSHOT_SUFFIX}"


def changed_column(name: str) -> str:
    """The name of the flag saying whether ``name`` differs between the two sides."""
    return f"{name}{CHANGED_SUFFIX}"


def field_changed(name: str) -> pl.Expr:
    """True when the incoming and snapshot values of ``name`` differ; null equals null."""
    return pl.col(name).ne_missing(pl.col(snapshot_column(name))).alias(changed_column(name))


def is_stale() -> pl.Expr:
    """The incoming row is older than the warehouse's: newest wins, so it is not an update.

    Equal ``updated_at`` with other differences is NOT stale: GitHub sometimes changes fields
    (e.g. ``head_repo_full_name`` when a fork is deleted) without bumping ``updated_at``.
    """
    return (pl.col("updated_at") < pl.col(snapshot_column("updated_at"))).alias("is_stale")


def is_changed(names: tuple[str, ...]) -> pl.Expr:
    """True when any compared field differs."""
    return pl.any_horizontal(pl.col(changed_column(name)) for name in names).alias("is_changed")


def value_as_text(column: str, dtype: pl.DataType) -> pl.Expr:
    """A value rendered as text for the field-change table (ISO timestamps, JSON lists)."""
    expression = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return expression.dt.to_string(TIMESTAMP_TEXT_FORMAT)
    if isinstance(dtype, pl.List):
        wrapped = pl.struct(expression.alias("v")).struct.json_encode()
        return wrapped.str.strip_prefix('{"v":').str.strip_suffix("}")
    return expression.cast(pl.String)


def field_change_rows(updated: pl.DataFrame, name: str) -> pl.DataFrame:
    """The (number, field, old, new) rows of the updated PRs whose ``name`` changed."""
    dtype = updated.schema[name]
    return updated.filter(pl.col(changed_column(name))).select(
        pl.col("number"),
        pl.lit(name, dtype=pl.String).alias("field"),
        value_as_text(snapshot_column(name), dtype).alias("old_value"),
        value_as_text(name, dtype).alias("new_value"),
    )


def field_changes_of(updated: pl.DataFrame) -> pl.DataFrame:
    """The long (number, field, old, new) table of all updated PRs, by number then field order.

    Only fields that changed in at least one row are rendered (a column-level check, not a
    row loop): usually a handful of the eighteen.
    """
    changed_fields = [
        name for name in COMPARED_PULL_REQUEST_COLUMNS if updated[changed_column(name)].any()
    ]
    if not changed_fields:
        return pl.DataFrame(schema=polars_schema(PR_FIELD_CHANGE_SCHEMA))
    return pl.concat(
        [field_change_rows(updated, name) for name in changed_fields], how="vertical"
    ).sort("number", maintain_order=True)


def first_seen_transitions(new: pl.DataFrame) -> pl.DataFrame:
    """A new PR enters the history from nothing to its current state."""
    return new.select(
        pl.col("number"),
        pl.lit(None, dtype=pl.String).alias("from_state"),
        pl.col("state").alias("to_state"),
    ).filter(recorded_transition_expr(pl.col("from_state"), pl.col("to_state")))


def is_state_transition() -> pl.Expr:
    """The state moved in a way the history records (``core.state_history``, the rule the load's
    SQL follows too): never away from ``merged``, which GitHub does not allow.

    If a row says so anyway the field change still shows it, but neither this table nor the
    load's ``pr_state_history`` records the impossible transition.
    """
    old_state = pl.col(snapshot_column("state"))
    return pl.col(changed_column("state")) & recorded_transition_expr(old_state, pl.col("state"))


def observed_transitions(updated: pl.DataFrame) -> pl.DataFrame:
    """open→closed, closed→open and →merged among updated PRs."""
    return updated.filter(is_state_transition()).select(
        pl.col("number"),
        pl.col(snapshot_column("state")).alias("from_state"),
        pl.col("state").alias("to_state"),
    )


def diff_pull_requests(
    incoming: pl.DataFrame, snapshot: pl.DataFrame, mode: SyncMode
) -> PullRequestDiff:
    """Compare canonical incoming PRs with the canonical snapshot (both sorted by number).

    Gone PRs are only reported in full mode: incremental and single syncs see a window of the
    repository, so a snapshot PR missing from them says nothing about GitHub.
    """
    key = list(PULL_REQUEST_KEY)
    new = incoming.join(snapshot.select(key), on=key, how="anti", maintain_order="left")
    paired = (
        incoming.join(snapshot, on=key, how="inner", suffix=SNAPSHOT_SUFFIX, maintain_order="left")
        .with_columns(field_changed(name) for name in COMPARED_PULL_REQUEST_COLUMNS)
        .with_columns(is_stale(), is_changed(COMPARED_PULL_REQUEST_COLUMNS))
    )
    updated = paired.filter(~pl.col("is_stale") & pl.col("is_changed"))
    stale = int(paired["is_stale"].sum())
    transitions = pl.concat(
        [first_seen_transitions(new), observed_transitions(updated)], how="vertical"
    ).sort("number", maintain_order=True)
    if mode == "full":
        deleted = snapshot.select(key).join(incoming, on=key, how="anti", maintain_order="left")
    else:
        deleted = snapshot.select(key).clear()
    return PullRequestDiff(
        new=conform(new, PULL_REQUEST_SCHEMA),
        updated=conform(updated, PULL_REQUEST_SCHEMA),
        field_changes=conform(field_changes_of(updated), PR_FIELD_CHANGE_SCHEMA),
        state_transitions=conform(transitions, STATE_TRANSITION_SCHEMA),
        deleted=conform(deleted, DELETED_PULL_REQUEST_SCHEMA),
        unchanged=paired.height - updated.height - stale,
        stale=stale,
    )
