"""The warehouse compared with fakehub's ground truth, field by field."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from polars.testing import assert_frame_equal

from prmon_pipeline.core.github_json import parse_check_runs, parse_pull_requests
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA
from prmon_pipeline.fakehub import World
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import get_repository
from prmon_pipeline.warehouse.snapshot import read_snapshot


def truth_pull_requests(world: World, repository: str) -> pa.Table:
    """Every PR of the repository as GitHub (the simulator) shows it now.

    An empty body is expected as NULL: GitHub sends both ``""`` and ``null`` for "no
    description" and the warehouse stores the one canonical form (see ``core/normalise.py``).
    """
    table = parse_pull_requests(world.pull_requests(repository), repository)
    body = table.column("body")
    empty = pc.equal(body, "")
    return table.set_column(
        table.schema.get_field_index("body"),
        table.schema.field("body"),
        pc.if_else(empty, pa.scalar(None, body.type), body),
    )


def truth_check_runs(world: World, repository: str) -> pa.Table:
    """Every check run on every PR's current head SHA, one row per (PR, run)."""
    tables = [
        parse_check_runs(world.check_runs(repository, pr["head"]["sha"]), repository, pr["number"])
        for pr in world.pull_requests(repository)
    ]
    tables = [t for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else CHECK_RUN_SCHEMA.empty_table()


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
    expected_prs = pl.from_arrow(truth_pull_requests(world, repository))
    expected_runs = pl.from_arrow(truth_check_runs(world, repository))
    assert isinstance(expected_prs, pl.DataFrame) and isinstance(expected_runs, pl.DataFrame)
    assert_frame_equal(prs.sort("number"), expected_prs.sort("number"))
    assert_frame_equal(
        runs.sort("pr_number", "github_id"), expected_runs.sort("pr_number", "github_id")
    )
