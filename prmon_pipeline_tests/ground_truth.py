"""The warehouse compared with fakehub's ground truth, field by field.

The expected rows come from the world model (``world_truth.py``), not from the parsers the
pipeline uses, so the comparison can catch a parser bug.
"""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from prmon_pipeline.fakehub import World
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import get_repository
from prmon_pipeline.warehouse.snapshot import read_snapshot
from prmon_pipeline_tests.world_truth import expected_check_runs, expected_pull_requests


def warehouse_tables(database_url: str, repository: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The repository's live PRs and the check runs of each PR's current head SHA."""
    with connect(database_url, autocommit=True) as conn:
        repository_id = get_repository(conn, repository).id
        prs, runs = read_snapshot(conn, repository_id, None)
    pr_frame = pl.from_arrow(prs)
    run_frame = pl.from_arrow(runs)
    assert isinstance(pr_frame, pl.DataFrame) and isinstance(run_frame, pl.DataFrame)
    heads = pr_frame.select(pl.col("number").alias("pr_number"), "head_sha")
    return pr_frame, run_frame.join(heads, on=["pr_number", "head_sha"], how="semi")


def assert_warehouse_matches(database_url: str, world: World, repository: str) -> None:
    """The warehouse holds exactly what the simulator shows for this repository."""
    prs, runs = warehouse_tables(database_url, repository)
    expected_prs = pl.from_arrow(expected_pull_requests(world, repository, stored=True))
    expected_runs = pl.from_arrow(expected_check_runs(world, repository))
    assert isinstance(expected_prs, pl.DataFrame) and isinstance(expected_runs, pl.DataFrame)
    assert_frame_equal(prs.sort("number"), expected_prs.sort("number"))
    assert_frame_equal(
        runs.sort("pr_number", "github_id"), expected_runs.sort("pr_number", "github_id")
    )
