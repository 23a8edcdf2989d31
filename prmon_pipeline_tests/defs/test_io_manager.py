"""The Parquet IO manager round-trips tables and changesets, one file per partition key."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from prmon_pipeline.core.changeset import compute_changeset
from prmon_pipeline.core.schemas import empty_check_runs, empty_pull_requests
from prmon_pipeline.defs.io_manager import ParquetIOManager
from prmon_pipeline.defs.partitions import REPOSITORIES_PARTITIONS_NAME, repositories_partitions
from prmon_pipeline.storage.partition_files import SpilledValues, StoredValues
from prmon_pipeline_tests.rows import pull_request

KEYS = ["acme/one", "acme/two.js", "other/three"]


def _table(key: str) -> pa.Table:
    numbers = range(1, 2 + KEYS.index(key))
    rows = [pull_request(n, title=f"{key} #{n}") for n in numbers]
    return pa.Table.from_pylist(rows, schema=empty_pull_requests().schema)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    test_instance = dg.DagsterInstance.ephemeral()
    test_instance.add_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME, KEYS)
    return test_instance


@dg.asset(partitions_def=repositories_partitions)
def tables(context: dg.AssetExecutionContext) -> dict[str, pa.Table]:
    return {key: _table(key) for key in context.partition_keys if key != "acme/two.js"}


@dg.asset(partitions_def=repositories_partitions)
def seen(context: dg.AssetExecutionContext, tables: StoredValues) -> None:
    expected = {key: _table(key) for key in context.partition_keys if key != "acme/two.js"}
    assert tables.keys() == expected.keys()
    for key, table in tables.items():
        assert table.equals(expected[key])


def _range(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def test_multi_partition_output_writes_one_file_per_key_and_loads_them_back(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    manager = ParquetIOManager(base_dir=str(tmp_path))
    result = dg.materialize(
        [tables, seen],
        instance=instance,
        resources={"io_manager": manager},
        tags=_range(KEYS[0], KEYS[-1]),
    )
    assert result.success
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files == ["tables/acme/one.parquet", "tables/other/three.parquet"]


def test_single_partition_round_trip_and_a_missing_key_removes_the_stale_file(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    manager = ParquetIOManager(base_dir=str(tmp_path))
    stale = tmp_path / "tables" / "acme" / "two.js.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an earlier run")

    for key in KEYS:
        result = dg.materialize(
            [tables], instance=instance, resources={"io_manager": manager}, partition_key=key
        )
        assert result.success

    assert not stale.exists()
    assert (tmp_path / "tables" / "other" / "three.parquet").is_file()
    one = dg.materialize(
        [tables, seen],
        instance=instance,
        resources={"io_manager": manager},
        partition_key="acme/one",
        selection=[seen],
    )
    assert one.success


def test_changeset_round_trips_as_a_directory(instance: dg.DagsterInstance, tmp_path: Path) -> None:
    incoming = _table("other/three")
    change = compute_changeset(
        incoming, empty_pull_requests(), empty_check_runs(), empty_check_runs(), "incremental"
    )

    @dg.asset(partitions_def=repositories_partitions, name="changes")
    def changes() -> object:
        return change

    @dg.asset(partitions_def=repositories_partitions, deps=[], name="reader")
    def reader(changes: StoredValues) -> None:
        loaded = changes["other/three"]
        assert loaded.summary() == change.summary()  # type: ignore[attr-defined]
        assert loaded.prs_new.equals(change.prs_new)  # type: ignore[attr-defined]

    result = dg.materialize(
        [changes, reader],
        instance=instance,
        resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path))},
        partition_key="other/three",
    )
    assert result.success
    assert (tmp_path / "changes" / "other" / "three" / "counts.json").is_file()


def test_a_missing_single_partition_input_is_a_clear_failure(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    result = dg.materialize(
        [tables, seen],
        instance=instance,
        resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path))},
        partition_key="acme/one",
        selection=[seen],
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no stored output for acme/one" in str(failure.step_failure_data.error)


def test_spilled_values_are_moved_into_place_and_read_back_one_at_a_time(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """A step that writes each repository's table as it goes (``SpilledValues``) hands over
    files, not tables: they are moved into the layout, a key left out loses its old file, the
    step's directory is gone afterwards, and the next step reads lazily what is there."""
    spill_dir = tmp_path / "spill"
    stale = ParquetIOManager(base_dir=str(tmp_path / "io")).location(
        dg.AssetKey("spilled"), "acme/two.js"
    )
    stale.parent.mkdir(parents=True)
    (stale.parent / "two.js.parquet").write_bytes(b"an older run's file")

    @dg.asset(partitions_def=repositories_partitions, name="spilled")
    def spilled(context: dg.AssetExecutionContext) -> SpilledValues:
        values = SpilledValues(spill_dir)
        for key in context.partition_keys:
            if key != "acme/two.js":  # failed upstream
                values.put(key, _table(key))
        return values

    @dg.asset(partitions_def=repositories_partitions, name="lazy_reader")
    def lazy_reader(context: dg.AssetExecutionContext, spilled: StoredValues) -> None:
        assert isinstance(spilled, StoredValues)
        assert sorted(spilled) == ["acme/one", "other/three"]
        for key in spilled:
            assert spilled[key].equals(_table(key))

    result = dg.materialize(
        [spilled, lazy_reader],
        instance=instance,
        resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path / "io"))},
        tags=_range(KEYS[0], KEYS[-1]),
    )
    assert result.success
    assert not spill_dir.exists()
    assert not (stale.parent / "two.js.parquet").exists()
    assert (tmp_path / "io" / "spilled" / "acme" / "one.parquet").is_file()
