"""Check runs turned into rows of ``prmon.check_runs`` for the load's direct COPY."""

from __future__ import annotations

import pyarrow as pa

from prmon_pipeline.core.check_run_rows import (
    CHECK_RUN_TABLE_COLUMNS,
    PULL_REQUEST_ID_SCHEMA,
    check_run_table_rows,
)
from prmon_pipeline.core.csv_codec import encode_csv
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA
from prmon_pipeline_tests.rows import check_run, check_runs


def _ids(pairs: dict[int, int]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"number": n, "id": i} for n, i in pairs.items()], schema=PULL_REQUEST_ID_SCHEMA
    )


def test_numbers_become_row_ids_and_the_incoming_order_is_kept() -> None:
    runs = check_runs(check_run(2, 5), check_run(2, 9), check_run(7, 1), check_run(9, 3))
    rows = check_run_table_rows(runs, _ids({7: 70, 2: 20, 9: 90}), repository_id=4)
    assert rows.column_names == list(CHECK_RUN_TABLE_COLUMNS)
    assert rows.column("pull_request_id").to_pylist() == [20, 20, 70, 90]
    assert rows.column("github_id").to_pylist() == [5, 9, 1, 3]
    assert set(rows.column("repository_id").to_pylist()) == {4}
    data_columns = [name for name in CHECK_RUN_TABLE_COLUMNS[2:] if name != "digest"]
    assert rows.select(data_columns).to_pylist() == runs.select(data_columns).to_pylist()


def test_runs_of_pull_requests_not_in_the_warehouse_are_dropped_like_the_merge_drops_them() -> None:
    runs = check_runs(check_run(1, 1), check_run(3, 2))
    rows = check_run_table_rows(runs, _ids({1: 10}), repository_id=1)
    assert rows.column("github_id").to_pylist() == [1]
    assert check_run_table_rows(runs, _ids({}), repository_id=1).num_rows == 0


def test_the_table_columns_are_the_check_run_schema_with_the_number_resolved() -> None:
    assert CHECK_RUN_TABLE_COLUMNS[:2] == ("repository_id", "pull_request_id")
    expected = set(CHECK_RUN_SCHEMA.names) - {"pr_number"} | {"digest"}
    assert set(CHECK_RUN_TABLE_COLUMNS[2:]) == expected


def test_csv_is_written_as_bytes_with_empty_fields_for_nulls() -> None:
    runs = check_runs(check_run(1, 1, conclusion=None, output_title=""))
    line = encode_csv(runs).decode()
    fields = line.rstrip("\n").split(",")
    assert fields[CHECK_RUN_SCHEMA.names.index("conclusion")] == ""
    assert fields[CHECK_RUN_SCHEMA.names.index("output_title")] == '""'
    assert fields[CHECK_RUN_SCHEMA.names.index("started_at")] == "2026-01-01T00:00:00.000000+00:00"
