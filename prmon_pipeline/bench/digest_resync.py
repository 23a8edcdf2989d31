"""Snapshot + changeset seconds of a re-sync, full comparison against digest-first (issue 17).

A repository of ``--prs`` PRs and ``--runs`` check runs is loaded into a throwaway database;
then the same runs come back with one in ten changed (completed), as an incremental cycle
that re-polled every head SHA sees them. Each path reads its snapshot of the touched PRs and
computes the changeset, alternately, ``--repeats`` times; the median of each is reported (two
shared cores: single runs swing by a third). Both must produce the same changeset.

    python -m prmon_pipeline.bench.digest_resync postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from prmon_pipeline.bench.changeset_baseline import synthetic_changeset_inputs
from prmon_pipeline.core.changeset import Changeset, compute_changeset
from prmon_pipeline.core.changeset_digests import compute_changeset_from_digests
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.core.normalise import conform
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.warehouse.audit import SyncAudit
from prmon_pipeline.warehouse.connection import connect, with_database
from prmon_pipeline.warehouse.load import load_changeset
from prmon_pipeline.warehouse.migrations import migrate
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline.warehouse.snapshot import Conn, read_snapshot, read_snapshot_by_digest


def full_comparison(
    conn: Conn, repository_id: int, numbers: list[int], runs: pa.Table
) -> Changeset:
    prs, stored_runs = read_snapshot(conn, repository_id, numbers)
    return compute_changeset(
        PULL_REQUEST_SCHEMA.empty_table(), prs, runs, stored_runs, "incremental"
    )


def digest_first(conn: Conn, repository_id: int, numbers: list[int], runs: pa.Table) -> Changeset:
    no_prs = PULL_REQUEST_SCHEMA.empty_table()
    snapshot = read_snapshot_by_digest(conn, repository_id, numbers, no_prs, runs)
    return compute_changeset_from_digests(
        snapshot.comparison,
        snapshot.differing_pull_requests,
        snapshot.differing_check_runs,
        "incremental",
    )


def with_output(runs: pa.Table, summary_bytes: int) -> pa.Table:
    """The runs with an output title and a summary of ``summary_bytes`` (GitHub Actions writes
    a few hundred bytes of Markdown there; the synthetic runs have none)."""
    if not summary_bytes:
        return runs
    frame = pl.from_arrow(runs)
    assert isinstance(frame, pl.DataFrame)
    summary = pl.format("{} ", pl.col("github_id")) + pl.lit("x" * summary_bytes)
    return conform(
        frame.with_columns(
            pl.format("{} checks", pl.col("status")).alias("output_title"),
            summary.alias("output_summary"),
        ),
        CHECK_RUN_SCHEMA,
    )


def measure(
    server_url: str, pr_count: int, run_count: int, repeats: int, summary_bytes: int = 0
) -> dict[str, float]:
    """The median seconds of each path, on a throwaway database dropped afterwards."""
    inputs = synthetic_changeset_inputs(pr_count, run_count)
    stored_runs = with_output(inputs.snapshot_check_runs, summary_bytes)
    incoming_runs = with_output(
        inputs.incoming_check_runs.filter(
            pc.less_equal(inputs.incoming_check_runs["github_id"], pa.scalar(run_count))
        ),
        summary_bytes,
    )
    name = f"prmon_digest_resync_{uuid.uuid4().hex[:8]}"
    with connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with connect(with_database(server_url, name), autocommit=True) as conn:
            migrate(conn)
            repository_id = add_repository(conn, "bench/digest-resync").id
            now = datetime.now(UTC)
            load_changeset(
                conn,
                repository_id,
                pull_requests=inputs.snapshot_prs,
                check_runs=stored_runs,
                deleted_numbers=[],
                cursors=SyncCursors(),
                audit=SyncAudit(mode="full", started_at=now),
                now=now,
            )
            conn.execute("VACUUM ANALYZE prmon.pull_requests")
            conn.execute("VACUUM ANALYZE prmon.check_runs")
            numbers = list(range(1, pr_count + 1))
            paths: dict[str, Callable[..., Changeset]] = {
                "full_comparison": full_comparison,
                "digest_first": digest_first,
            }
            samples: dict[str, list[float]] = {path: [] for path in paths}
            summaries = {}
            for repeat in range(repeats):
                order = list(paths.items()) if repeat % 2 == 0 else list(paths.items())[::-1]
                for path, run in order:
                    started = time.perf_counter()
                    summaries[path] = run(conn, repository_id, numbers, incoming_runs).summary()
                    samples[path].append(time.perf_counter() - started)
            best = {path: statistics.median(values) for path, values in samples.items()}
            if summaries["full_comparison"] != summaries["digest_first"]:
                raise AssertionError(f"the two paths disagree: {summaries}")
            best["check_runs_updated"] = summaries["digest_first"]["check_runs_updated"]
    finally:
        with connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server_url")
    parser.add_argument("--prs", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--summary-bytes", type=int, default=0)
    args = parser.parse_args()
    figures = measure(args.server_url, args.prs, args.runs, args.repeats, args.summary_bytes)
    full, digest = figures["full_comparison"], figures["digest_first"]
    print(
        f"{args.runs} check runs ({args.summary_bytes}-byte summaries),"
        f" {int(figures['check_runs_updated'])} changed:"
        f" full comparison {full:.3f} s, digest-first {digest:.3f} s"
        f" ({100 * (1 - digest / full):.0f} % less)"
    )


if __name__ == "__main__":
    main()
