"""A small IO manager: one Parquet file (or changeset directory) per asset and partition key.

dagster-polars cannot load under polars 2.x, and the tables are Arrow anyway, so this writes
``pyarrow.parquet`` directly. Layout under ``base_dir``::

    pull_requests/<owner>/<name>.parquet      check_runs/<owner>/<name>.parquet
    changeset/<owner>/<name>/                 (``storage.changeset_files`` format)

An output is a ``{partition_key: value}`` mapping (a bare value is accepted for a one-partition
run), so a single-run backfill writes one file per repository, just like one run per repository.
The sync's steps hand over a ``SpilledValues`` mapping (``storage.partition_files``): written as
each repository was done, so that a step holds one repository's tables at a time, and only moved
into place here. A key of the run's range that is absent from the mapping is a repository that
failed upstream: its old file is removed, so a later step can never pick up a stale table.
Loading returns a lazy mapping of the keys that have a file (each read when looked up); a
one-partition load of a missing file is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pyarrow as pa
from pydantic import Field

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.storage.partition_files import (
    SpilledValues,
    Stored,
    StoredValues,
    has_value,
    move_value,
    remove_value,
    repository_stem,
    write_value,
)
from prmon_pipeline.warehouse.connection import prmon_home


class ParquetIOManager(dg.ConfigurableIOManager):
    """Persist Arrow tables and changesets per partition as Parquet under ``base_dir``."""

    base_dir: str | None = Field(
        default=None, description="Where files go; default: $PRMON_HOME/dagster-io."
    )

    def root(self) -> Path:
        return Path(self.base_dir) if self.base_dir else prmon_home() / "dagster-io"

    def location(self, asset_key: dg.AssetKey, partition_key: str) -> Path:
        """The file stem for one asset and repository; the key is validated before use."""
        return repository_stem(self.root().joinpath(*asset_key.path), partition_key)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        keys = _partition_keys(context)
        if isinstance(obj, SpilledValues):
            self._move_spilled(context.asset_key, keys, obj)
        else:
            values = _by_partition(obj, keys)
            for key in keys:
                stem = self.location(context.asset_key, key)
                if key in values:
                    write_value(values[key], stem)
                else:
                    remove_value(stem)
        context.add_output_metadata(
            {"storage": dg.MetadataValue.path(str(self.root().joinpath(*context.asset_key.path)))}
        )

    def _move_spilled(
        self, asset_key: dg.AssetKey, keys: list[str], spilled: SpilledValues
    ) -> None:
        unknown = set(spilled) - set(keys)
        if unknown:
            raise dg.Failure(f"values for partitions outside the run: {sorted(unknown)}")
        try:
            for key in keys:
                stem = self.location(asset_key, key)
                if key in spilled:
                    move_value(spilled.stem(key), stem)
                else:
                    remove_value(stem)
        finally:
            spilled.discard()

    def load_input(self, context: dg.InputContext) -> StoredValues:
        """The stored values of the run's partitions, each read only when a step looks it up."""
        keys = context.asset_partition_keys if context.has_asset_partitions else []
        if not keys:
            raise dg.Failure(f"{context.asset_key.to_user_string()}: only partitioned assets")
        stems = {key: self.location(context.asset_key, key) for key in keys}
        present = {key: stem for key, stem in stems.items() if has_value(stem)}
        if len(keys) == 1 and not present:
            raise dg.Failure(
                f"{context.asset_key.to_user_string()} has no stored output for {keys[0]};"
                " materialize it first"
            )
        return StoredValues(present)


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
