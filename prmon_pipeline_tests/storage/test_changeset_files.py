"""The changeset's Parquet directory: what Dagster persists between the changeset and the load."""

from __future__ import annotations

from pathlib import Path

import pytest

from prmon_pipeline.storage.changeset_files import (
    COUNTS_FILE_NAME,
    ChangesetFormatError,
    read_changeset,
    write_changeset,
)
from prmon_pipeline_tests.core.test_changeset import assert_tables_equal, mixed_changeset


def test_parquet_round_trip(tmp_path: Path) -> None:
    _, _, changeset = mixed_changeset()

    written = write_changeset(changeset, tmp_path / "changeset")
    restored = read_changeset(written)

    for name, table in changeset.tables().items():
        assert_tables_equal(getattr(restored, name), table)
    assert restored.counts() == changeset.counts()
    assert restored.summary() == changeset.summary()


def test_reading_another_format_version_fails(tmp_path: Path) -> None:
    _, _, changeset = mixed_changeset()
    write_changeset(changeset, tmp_path)
    (tmp_path / COUNTS_FILE_NAME).write_text('{"format_version": 99}')

    with pytest.raises(ChangesetFormatError, match="format version 99"):
        read_changeset(tmp_path)


def test_reading_a_directory_without_a_changeset_fails(tmp_path: Path) -> None:
    with pytest.raises(ChangesetFormatError, match=r"no counts\.json"):
        read_changeset(tmp_path)
