"""The comparison path a sync takes, and the check that both paths agree (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from prmon_pipeline.core.changeset import empty_changeset
from prmon_pipeline.core.models import COMPARISON_PATHS
from prmon_pipeline.sync.options import AUTO_COMPARISON, SyncOptions
from prmon_pipeline.sync.path_comparison import PathsDisagreeError, _check_agree, stage_name


@pytest.mark.parametrize("path", COMPARISON_PATHS)
def test_a_named_path_is_taken_in_every_mode(path: str) -> None:
    for mode in ("incremental", "full", "single"):
        assert SyncOptions(mode=mode, comparison=path).comparison_path() == path  # type: ignore[arg-type]


def test_auto_takes_the_path_measured_faster_for_the_mode() -> None:
    for mode, path in AUTO_COMPARISON.items():
        assert SyncOptions(mode=mode).comparison_path() == path
    assert set(AUTO_COMPARISON) == {"incremental", "full", "single"}


def test_equal_changesets_agree_and_any_difference_fails() -> None:
    same = empty_changeset()
    _check_agree({"digest_first": same, "full_comparison": empty_changeset()})
    counted = replace(same, check_runs_unchanged=1)
    with pytest.raises(PathsDisagreeError, match="counts"):
        _check_agree({"digest_first": same, "full_comparison": counted})


def test_each_path_stage_has_its_own_name() -> None:
    names = {
        stage_name(stage, path) for stage in ("snapshot", "changeset") for path in COMPARISON_PATHS
    }
    assert "snapshot (digest-first)" in names and "changeset (full comparison)" in names
    assert len(names) == 4
