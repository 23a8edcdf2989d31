"""The dict baseline, the full comparison and the digest-first changeset agree on the bench's
synthetic re-syncs (disguised labels, edits, closes, new and gone PRs, completed and new runs)."""

from __future__ import annotations

import pytest

from prmon_pipeline.bench.changeset_baseline import (
    compute_changeset_baseline,
    synthetic_changeset_inputs,
)
from prmon_pipeline.core.changeset import compute_changeset
from prmon_pipeline.core.changeset_digests import compute_changeset_digest_first
from prmon_pipeline.core.models import SyncMode
from prmon_pipeline_tests.core.test_changeset import assert_tables_equal


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_the_three_changesets_agree(mode: SyncMode) -> None:
    inputs = synthetic_changeset_inputs(2_000, 6_000, changed_every=7)
    args = (
        inputs.incoming_prs,
        inputs.snapshot_prs,
        inputs.incoming_check_runs,
        inputs.snapshot_check_runs,
        mode,
    )
    full = compute_changeset(*args)
    digest_first = compute_changeset_digest_first(*args)
    assert full.summary() == compute_changeset_baseline(*args).summary()
    assert digest_first.summary() == full.summary()
    for name, table in full.tables().items():
        assert_tables_equal(digest_first.tables()[name], table)
    assert full.prs_updated.num_rows and full.check_runs_updated.num_rows
    assert full.check_runs_unchanged > full.check_runs_updated.num_rows
