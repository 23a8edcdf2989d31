"""A small IO manager: one Parquet file (or changeset directory) per asset and partition key.

dagster-polars cannot load under polars 2.x, and the tables are Arrow anyway, so this writes
``pyarrow.parquet`` directly. Layout under ``base_dir``::

    pull_requests/<owner>/<name>.parquet      check_runs/<owner>/<name>.parquet
    changeset/<owner>/<name>/                 (``storage.changeset_files`` format)

An output is a ``{partition_key: value}`` mapping (a bare value is accepted for a one-partition
run), so a single-run backfill writes one file per repository, just like one run per repository.
A key of the run's range that is absent from the mapping is a repository that failed upstream:
its old file is removed, so a later step can never pick up a stale table. Loading returns the
mapping of the keys that have a file; a one-partition load of a missing file is an error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.storage.changeset_files import read_changeset, write_changeset
from prmon_pipeline.warehouse.connection import prmon_home

Stored = pa.Table | Changeset
ByPartition = dict[str, Stored]


class ParquetIOManager(dg.ConfigurableIOManager):
    """Persist Arrow tables and changesets per partition as Parquet under ``base_dir``."""

    base_dir: str | None = Field(
        default=None, description="Where files go; default: $PRMON_HOME/dagster-io."
    )

    def root(self) -> Path:
        return Path(self.base_dir) if self.base_dir else prmon_home() / "dagster-io"

    def location(self, asset_key: dg.AssetKey, partition_key: str) -> Path:
        """The file stem for one asset and repository; the key is validated before use."""
        repo = parse_repo_key(partition_key)
        return self.root().joinpath(*asset_key.path, repo.owner, repo.name)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        keys = _partition_keys(context)
        values = _by_partition(obj, keys)
        for key in keys:
            stem = self.location(context.asset_key, key)
            if key in values:
                _write(values[key], stem)
            else:
                _remove(stem)
        context.add_output_metadata(
            {"storage": dg.MetadataValue.path(str(self.root().joinpath(*context.asset_key.path)))}
        )

    def load_input(self, context: dg.InputContext) -> ByPartition:
        keys = context.asset_partition_keys if context.has_asset_partitions else []
        if not keys:
            raise dg.Failure(f"{context.asset_key.to_user_string()}: only partitioned assets")
        loaded: ByPartition = {}
        for key in keys:
            value = _read(self.location(context.asset_key, key))
            if value is not None:
                loaded[key] = value
        if len(keys) == 1 and not loaded:
            raise dg.Failure(
                f"{context.asset_key.to_user_string()} has no stored output for {keys[0]};"
                " materialize it first"
            )
        return loaded


def _partition_keys(context: dg.OutputContext) -> list[str]:
    if not context.has_asset_partitions:
        raise dg.Failure(f"{context.asset_key.to_user_string()}: only partitioned assets")
    return list(context.asset_partition_keys)


def _by_partition(obj: object, keys: list[str]) -> Mapping[str, Stored]:
    if isinstance(obj, pa.Table | Changeset):
        if len(keys) != 1:
            raise dg.Failure(f"one value for {len(keys)} partitions: return a mapping by key")
        return {keys[0]: obj}
    if isinstance(obj, Mapping):
        unknown = set(obj) - set(keys)
        if unknown:
            raise dg.Failure(f"values for partitions outside the run: {sorted(unknown)}")
        return obj
    raise dg.Failure(f"cannot store {type(obj).__name__}: expected an Arrow table or Changeset")


def _write(value: Stored, stem: Path) -> None:
    """Write next to the target, then rename, so a crash never leaves half a file."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    _remove(stem)
    if isinstance(value, Changeset):
        staging = Path(tempfile.mkdtemp(dir=stem.parent, prefix=f".{stem.name}."))
        write_changeset(value, staging)
        staging.rename(stem)
        return
    fd, staging_file = tempfile.mkstemp(dir=stem.parent, prefix=f".{stem.name}.", suffix=".tmp")
    os.close(fd)
    pq.write_table(value, staging_file)
    Path(staging_file).replace(_table_file(stem))


def _read(stem: Path) -> Stored | None:
    table_file = _table_file(stem)
    if table_file.is_file():
        return pq.read_table(table_file)
    if stem.is_dir():
        return read_changeset(stem)
    return None


def _table_file(stem: Path) -> Path:
    """``name.parquet`` beside ``stem`` (not ``with_suffix``: repository names may hold dots)."""
    return stem.parent / f"{stem.name}.parquet"


def _remove(stem: Path) -> None:
    _table_file(stem).unlink(missing_ok=True)
    if stem.is_dir():
        shutil.rmtree(stem)
