"""The digest-first changeset: compare digests, diff full rows only where they differ.

``compute_changeset`` needs every touched stored row in full, and a re-sync in which one row in
ten changed spends most of its time reading and comparing the other nine. Here the warehouse is
asked for ``(key, digest)`` of the touched rows (``core.digests``), in three steps that the
snapshot reader runs inside one transaction:

1. :func:`digest_incoming`: canonical incoming rows with their digests;
2. :func:`compare_digests` against the stored digests: equal digests are unchanged rows, no key
   is new, and the keys of differing digests are the only stored rows read in full;
3. :func:`compute_changeset_from_digests`: the usual diff (field changes, state transitions,
   stale rows) over those rows alone; gone PRs (full mode) stay an anti-join, on the digests'
   keys.

The result equals ``compute_changeset``'s on the same data (the property tests run both):
equal digests mean equal canonical rows, and a stored digest that is NULL or stale only sends
its row to the full comparison. :func:`compute_changeset_digest_first` plays the warehouse's
part in memory, for those tests and the bench.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import polars as pl
import pyarrow as pa

from prmon_pipeline.core.changeset import Changeset, assemble_changeset, empty_changeset
from prmon_pipeline.core.changeset_check_runs import diff_check_runs, reject_orphan_check_runs
from prmon_pipeline.core.changeset_pull_requests import (
    DELETED_PULL_REQUEST_SCHEMA,
    diff_pull_requests,
)
from prmon_pipeline.core.digests import (
    DIGEST_COLUMN,
    stored_check_runs,
    stored_pull_requests,
    with_check_run_digests,
    with_pull_request_digests,
)
from prmon_pipeline.core.models import SyncMode
from prmon_pipeline.core.normalise import (
    CHECK_RUN_KEY_COLUMN,
    check_run_key,
    conform,
    normalise_check_runs,
    normalise_pull_requests,
    to_frame,
)
from prmon_pipeline.core.schemas import (
    CHECK_RUN_DIGEST_SCHEMA,
    CHECK_RUN_KEY,
    PULL_REQUEST_DIGEST_SCHEMA,
    PULL_REQUEST_KEY,
)

STORED_DIGEST = "digest__stored"
IN_STORE = "in_store"
DIFFERING_PULL_REQUEST_SCHEMA = PULL_REQUEST_DIGEST_SCHEMA.remove(1)
"""The numbers of stored PRs whose digest differs: the only PRs read in full."""
DIFFERING_CHECK_RUN_SCHEMA = CHECK_RUN_DIGEST_SCHEMA.remove(2)
"""The keys of stored check runs whose digest differs: the only runs read in full."""


@dataclass(frozen=True)
class DigestedIncoming:
    """What GitHub showed, canonical (``core.normalise``), each row with its digest."""

    pull_requests: pl.DataFrame
    check_runs: pl.DataFrame

    @property
    def is_empty(self) -> bool:
        return not (self.pull_requests.height or self.check_runs.height)


@dataclass(frozen=True)
class DigestComparison:
    """Incoming rows against the stored digests: what is settled, and what to read in full."""

    incoming: DigestedIncoming
    stored_pr_numbers: pl.DataFrame
    """Every stored PR in view (for orphan checks and, in full mode, gone PRs)."""
    prs_to_diff: pl.DataFrame
    """Incoming PRs that are new or whose digest differs, canonical and by number."""
    check_runs_to_diff: pl.DataFrame
    """Incoming runs that are new or whose digest differs, canonical and by key."""
    differing_pr_numbers: pa.Table
    differing_check_run_keys: pa.Table
    prs_equal: int
    check_runs_equal: int


def digest_incoming(
    incoming_prs: pa.Table, incoming_check_runs: pa.Table, stored_numbers: pl.Series | None = None
) -> DigestedIncoming:
    """Normalise the incoming rows (as ``compute_changeset`` does) and digest them.

    With ``stored_numbers`` (the PRs the warehouse holds) only rows that can have a stored
    counterpart are digested: a PR outside it is new, and so is every run of such a PR (runs
    are read through their live PR). Their digest stays null, which never equals a stored one;
    the load digests what it writes. A cold sync of 1,000 PRs digested every row twice.
    """
    prs = normalise_pull_requests(incoming_prs)
    runs = normalise_check_runs(incoming_check_runs)
    if stored_numbers is None:
        return DigestedIncoming(with_pull_request_digests(prs), with_check_run_digests(runs))
    (number,) = PULL_REQUEST_KEY
    return DigestedIncoming(
        _digested_where(prs, pl.col(number).is_in(stored_numbers), with_pull_request_digests),
        _digested_where(runs, pl.col("pr_number").is_in(stored_numbers), with_check_run_digests),
    )


def _digested_where(
    frame: pl.DataFrame, stored: pl.Expr, digested: Callable[[pl.DataFrame], pl.DataFrame]
) -> pl.DataFrame:
    """``frame`` with digests where ``stored`` holds and a null digest elsewhere, order kept
    (sorted by key in one chunk, as the comparison's merge joins want it)."""
    mask = frame.select(stored.alias("stored")).to_series()
    if mask.all():
        return digested(frame)
    null_digest = pl.lit(None, dtype=pl.Binary).alias(DIGEST_COLUMN)
    if not mask.any():
        return frame.with_columns(null_digest)
    digests = digested(frame.filter(mask)).get_column(DIGEST_COLUMN)
    positions = mask.arg_true()
    column = pl.Series(DIGEST_COLUMN, [None] * frame.height, dtype=pl.Binary).scatter(
        positions, digests
    )
    return frame.with_columns(column)


def _matched(incoming: pl.DataFrame, stored: pl.DataFrame, key: str) -> pl.DataFrame:
    """Incoming rows with ``in_store`` and whether the stored digest equals theirs (a null on
    either side is never equal: not digested, or not stored or malformed)."""
    stored_digests = stored.select(
        key, pl.col(DIGEST_COLUMN).alias(STORED_DIGEST), pl.lit(value=True).alias(IN_STORE)
    )
    return incoming.join(stored_digests, on=key, how="left", maintain_order="left").with_columns(
        pl.col(IN_STORE).fill_null(value=False),
        (pl.col(DIGEST_COLUMN) == pl.col(STORED_DIGEST)).fill_null(value=False).alias("is_equal"),
    )


def _to_diff(matched: pl.DataFrame, key: str) -> pl.DataFrame:
    """The rows still to compare, sorted by ``key`` in one chunk (the diff's merge-join path)."""
    rows = matched.filter(~pl.col("is_equal")).drop(STORED_DIGEST, IN_STORE, "is_equal")
    return rows.rechunk().with_columns(pl.col(key).set_sorted())


def _differing_keys(matched: pl.DataFrame, columns: list[str], schema: pa.Schema) -> pa.Table:
    return conform(matched.filter(pl.col(IN_STORE) & ~pl.col("is_equal")).select(columns), schema)


def compare_digests(
    incoming: DigestedIncoming, stored_prs: pa.Table, stored_check_runs: pa.Table
) -> DigestComparison:
    """Settle what the digests can: ``stored_prs`` in ``PULL_REQUEST_DIGEST_SCHEMA`` and
    ``stored_check_runs`` in ``CHECK_RUN_DIGEST_SCHEMA``, for the same PRs a snapshot holds."""
    (number,) = PULL_REQUEST_KEY
    stored_pr_frame = to_frame(stored_prs)
    stored_run_frame = to_frame(stored_check_runs).with_columns(check_run_key())
    prs = _matched(incoming.pull_requests, stored_pr_frame, number)
    runs = _matched(incoming.check_runs, stored_run_frame, CHECK_RUN_KEY_COLUMN)
    return DigestComparison(
        incoming=incoming,
        stored_pr_numbers=stored_pr_frame.select(number),
        prs_to_diff=_to_diff(prs, number),
        check_runs_to_diff=_to_diff(runs, CHECK_RUN_KEY_COLUMN),
        differing_pr_numbers=_differing_keys(prs, [number], DIFFERING_PULL_REQUEST_SCHEMA),
        differing_check_run_keys=_differing_keys(
            runs, list(CHECK_RUN_KEY), DIFFERING_CHECK_RUN_SCHEMA
        ),
        prs_equal=int(prs["is_equal"].sum()),
        check_runs_equal=int(runs["is_equal"].sum()),
    )


def compute_changeset_from_digests(
    comparison: DigestComparison,
    differing_prs: pa.Table,
    differing_check_runs: pa.Table,
    mode: SyncMode,
) -> Changeset:
    """The changeset, given the stored rows of the differing keys in full.

    ``differing_prs`` and ``differing_check_runs`` are the stored rows (``PULL_REQUEST_SCHEMA``,
    ``CHECK_RUN_SCHEMA``) of ``comparison.differing_pr_numbers`` and ``differing_check_run_keys``.
    Raises ``OrphanCheckRunsError`` as ``compute_changeset`` does.
    """
    incoming = comparison.incoming
    if incoming.is_empty and comparison.stored_pr_numbers.height == 0:
        return empty_changeset()
    (number,) = PULL_REQUEST_KEY
    known_pr_numbers = pl.concat(
        [incoming.pull_requests.select(number), comparison.stored_pr_numbers]
    )
    reject_orphan_check_runs(incoming.check_runs, known_pr_numbers)
    # Gone PRs are found below on every stored key, not on the few read in full.
    pull_requests = diff_pull_requests(
        comparison.prs_to_diff, normalise_pull_requests(differing_prs), "incremental"
    )
    if mode == "full":
        gone = comparison.stored_pr_numbers.join(
            incoming.pull_requests.select(number), on=number, how="anti", maintain_order="left"
        )
        pull_requests = replace(pull_requests, deleted=conform(gone, DELETED_PULL_REQUEST_SCHEMA))
    check_runs = diff_check_runs(
        comparison.check_runs_to_diff, normalise_check_runs(differing_check_runs)
    )
    return assemble_changeset(
        replace(pull_requests, unchanged=pull_requests.unchanged + comparison.prs_equal),
        replace(check_runs, unchanged=check_runs.unchanged + comparison.check_runs_equal),
    )


def stored_digests(
    snapshot_prs: pa.Table, snapshot_check_runs: pa.Table
) -> tuple[pa.Table, pa.Table]:
    """The ``(key, digest)`` tables a warehouse holding these rows returns (the load's digests)."""
    prs = stored_pull_requests(snapshot_prs).select(PULL_REQUEST_DIGEST_SCHEMA.names)
    runs = stored_check_runs(snapshot_check_runs).select(CHECK_RUN_DIGEST_SCHEMA.names)
    return prs.cast(PULL_REQUEST_DIGEST_SCHEMA), runs.cast(CHECK_RUN_DIGEST_SCHEMA)


def _rows_of(table: pa.Table, keys: pa.Table) -> pa.Table:
    """The rows of ``table`` whose key is among ``keys`` (what the warehouse reads in full)."""
    frame = to_frame(table).join(to_frame(keys), on=keys.column_names, how="semi")
    return conform(frame, table.schema)


def compute_changeset_digest_first(
    incoming_prs: pa.Table,
    snapshot_prs: pa.Table,
    incoming_check_runs: pa.Table,
    snapshot_check_runs: pa.Table,
    mode: SyncMode,
) -> Changeset:
    """``compute_changeset``'s arguments, the digest-first way, with the warehouse in memory:
    the snapshot's digests as the load would have stored them, full rows only where they differ.
    """
    stored_prs, stored_runs = stored_digests(snapshot_prs, snapshot_check_runs)
    stored_numbers = to_frame(stored_prs).get_column(PULL_REQUEST_KEY[0])
    comparison = compare_digests(
        digest_incoming(incoming_prs, incoming_check_runs, stored_numbers), stored_prs, stored_runs
    )
    return compute_changeset_from_digests(
        comparison,
        _rows_of(snapshot_prs, comparison.differing_pr_numbers),
        _rows_of(snapshot_check_runs, comparison.differing_check_run_keys),
        mode,
    )
