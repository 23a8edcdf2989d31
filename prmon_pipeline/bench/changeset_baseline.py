"""The changeset done the obvious way, with Python dicts, to measure the Polars version against.

``compute_changeset_baseline`` does the same job as ``core.changeset.compute_changeset`` (same
normalisation, newest-wins, field changes, transitions, gone PRs, check-run diff) row by row over
``to_pylist()`` dictionaries. It stops at Python lists, without building Arrow tables back, so
it is a generous baseline. ``synthetic_changeset_inputs`` builds repeatable inputs of any size,
vectorised, so that generating a million check runs does not dominate a benchmark run.

Run ``uv run python -m prmon_pipeline.bench.changeset_baseline`` to print the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from prmon_pipeline.core.changeset import compute_changeset
from prmon_pipeline.core.changeset_digests import compute_changeset_digest_first
from prmon_pipeline.core.models import SyncMode
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA

Row = dict[str, Any]
PR_COMPARED = tuple(name for name in PULL_REQUEST_SCHEMA.names if name != "number")
RUN_COMPARED = tuple(
    name for name in CHECK_RUN_SCHEMA.names if name not in ("pr_number", "github_id")
)


@dataclass
class BaselineChangeset:
    """What the dict baseline finds: rows and counts, in plain Python."""

    prs_new: list[Row] = field(default_factory=list)
    prs_updated: list[Row] = field(default_factory=list)
    pr_field_changes: list[tuple[int, str, Any, Any]] = field(default_factory=list)
    state_transitions: list[tuple[int, str | None, str]] = field(default_factory=list)
    prs_deleted: list[int] = field(default_factory=list)
    check_runs_new: list[Row] = field(default_factory=list)
    check_runs_updated: list[Row] = field(default_factory=list)
    prs_unchanged: int = 0
    prs_stale: int = 0
    check_runs_unchanged: int = 0

    def summary(self) -> dict[str, int]:
        """The same counts as ``Changeset.summary()``."""
        return {
            "prs_new": len(self.prs_new),
            "prs_updated": len(self.prs_updated),
            "prs_unchanged": self.prs_unchanged,
            "prs_stale": self.prs_stale,
            "prs_deleted": len(self.prs_deleted),
            "check_runs_new": len(self.check_runs_new),
            "check_runs_updated": len(self.check_runs_updated),
            "check_runs_unchanged": self.check_runs_unchanged,
            "state_changes": len(self.state_transitions),
            "field_changes": len(self.pr_field_changes),
        }


def _canonical_pr(row: Row) -> Row:
    return {
        **row,
        "labels": sorted(row["labels"] or []),
        "assignees": sorted(row["assignees"] or []),
        "body": row["body"] or None,
    }


def _prs_by_number(table: pa.Table) -> dict[int, Row]:
    by_number: dict[int, Row] = {}
    for row in table.to_pylist():
        current = by_number.get(row["number"])
        if current is None or row["updated_at"] >= current["updated_at"]:
            by_number[row["number"]] = _canonical_pr(row)
    return by_number


def compute_changeset_baseline(
    incoming_prs: pa.Table,
    snapshot_prs: pa.Table,
    incoming_check_runs: pa.Table,
    snapshot_check_runs: pa.Table,
    mode: SyncMode,
) -> BaselineChangeset:
    """The changeset computed with dict lookups and a Python loop over every row."""
    result = BaselineChangeset()
    incoming = _prs_by_number(incoming_prs)
    snapshot = _prs_by_number(snapshot_prs)
    for number, new in incoming.items():
        old = snapshot.get(number)
        if old is None:
            result.prs_new.append(new)
            result.state_transitions.append((number, None, new["state"]))
            continue
        if new["updated_at"] < old["updated_at"]:
            result.prs_stale += 1
            continue
        changed = [name for name in PR_COMPARED if new[name] != old[name]]
        if not changed:
            result.prs_unchanged += 1
            continue
        result.prs_updated.append(new)
        result.pr_field_changes.extend((number, name, old[name], new[name]) for name in changed)
        if new["state"] != old["state"] and old["state"] != "merged":
            result.state_transitions.append((number, old["state"], new["state"]))
    if mode == "full":
        result.prs_deleted = [number for number in snapshot if number not in incoming]

    known = incoming.keys() | snapshot.keys()
    old_runs = {(r["pr_number"], r["github_id"]): r for r in snapshot_check_runs.to_pylist()}
    for run in incoming_check_runs.to_pylist():
        if run["pr_number"] not in known:
            raise ValueError(f"check run {run['github_id']} names unknown PR {run['pr_number']}")
        old_run = old_runs.get((run["pr_number"], run["github_id"]))
        if old_run is None:
            result.check_runs_new.append(run)
        elif any(run[name] != old_run[name] for name in RUN_COMPARED):
            result.check_runs_updated.append(run)
        else:
            result.check_runs_unchanged += 1
    return result


@dataclass(frozen=True)
class ChangesetInputs:
    """The four tables and the mode ``compute_changeset`` takes."""

    incoming_prs: pa.Table
    snapshot_prs: pa.Table
    incoming_check_runs: pa.Table
    snapshot_check_runs: pa.Table
    mode: SyncMode = "full"


def _synthetic_prs(numbers: pl.Expr, base: datetime) -> list[pl.Expr]:
    return [
        numbers.alias("number"),
        (numbers + 10**12).alias("github_id"),
        pl.format("Pull request {}", numbers).alias("title"),
        pl.when(numbers % 4 == 0).then(None).otherwise(pl.lit("body")).alias("body"),
        pl.when(numbers % 3 == 0).then(pl.lit("closed")).otherwise(pl.lit("open")).alias("state"),
        (numbers % 7 == 0).alias("draft"),
        pl.lit("octocat").alias("author_login"),
        pl.lit("main").alias("base_ref"),
        pl.lit("a" * 40).alias("base_sha"),
        pl.format("topic-{}", numbers).alias("head_ref"),
        pl.lit("b" * 40).alias("head_sha"),
        pl.lit("octo/fork").alias("head_repo_full_name"),
        pl.concat_list(pl.lit("bug"), pl.format("area-{}", numbers % 5)).alias("labels"),
        pl.concat_list(pl.lit("amy")).alias("assignees"),
        pl.format("https://github.com/octo/repo/pull/{}", numbers).alias("html_url"),
        (pl.lit(base) + pl.duration(seconds=numbers)).alias("created_at"),
        (pl.lit(base) + pl.duration(seconds=numbers * 2)).alias("updated_at"),
        pl.when(numbers % 3 == 0).then(pl.lit(base)).otherwise(None).alias("closed_at"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("merged_at"),
    ]


def _synthetic_runs(index: pl.Expr, pr_count: int, base: datetime) -> list[pl.Expr]:
    return [
        (index % pr_count + 1).alias("pr_number"),
        (index + 1).alias("github_id"),
        pl.lit("b" * 40).alias("head_sha"),
        pl.format("job-{}", index % 20).alias("name"),
        pl.lit("in_progress").alias("status"),
        pl.lit(None, dtype=pl.String).alias("conclusion"),
        pl.lit("github-actions").alias("app_slug"),
        pl.format("https://ci.example/{}", index).alias("details_url"),
        (pl.lit(base) + pl.duration(seconds=index)).alias("started_at"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("completed_at"),
        pl.lit(None, dtype=pl.String).alias("output_title"),
        pl.lit(None, dtype=pl.String).alias("output_summary"),
    ]


def synthetic_changeset_inputs(
    pr_count: int, check_run_count: int, changed_every: int = 10
) -> ChangesetInputs:
    """A full sync of ``pr_count`` PRs where one row in ``changed_every`` changed.

    Changes: a title and ``updated_at`` (every ``changed_every``-th PR), a close (a fifth of
    those), 1% new PRs, 0.5% gone PRs; labels arrive reversed (a disguise, not a change); one
    run in ``changed_every`` completes and 1% of runs are new.
    """
    base = datetime(2024, 1, 1, tzinfo=UTC)
    numbers = pl.int_range(1, pr_count + 1, dtype=pl.Int64)
    snapshot = pl.select(_synthetic_prs(numbers, base))
    new_numbers = pl.int_range(pr_count + 1, pr_count + 1 + pr_count // 100, dtype=pl.Int64)
    changed = pl.col("number") % changed_every == 0
    closed_now = pl.col("number") % (changed_every * 5) == 0
    incoming = (
        pl.concat([snapshot, pl.select(_synthetic_prs(new_numbers, base))])
        .filter(pl.col("number") % 200 != 1)
        .with_columns(
            pl.when(changed)
            .then(pl.format("{} (edited)", "title"))
            .otherwise("title")
            .alias("title"),
            pl.when(changed)
            .then(pl.col("updated_at") + pl.duration(hours=1))
            .otherwise("updated_at"),
            pl.when(closed_now).then(pl.lit("closed")).otherwise("state").alias("state"),
            pl.col("labels").list.reverse(),
        )
    )
    index = pl.int_range(0, check_run_count, dtype=pl.Int64)
    snapshot_runs = pl.select(_synthetic_runs(index, pr_count, base))
    new_index = pl.int_range(
        check_run_count, check_run_count + check_run_count // 100, dtype=pl.Int64
    )
    run_changed = pl.col("github_id") % changed_every == 0
    incoming_runs = pl.concat(
        [snapshot_runs, pl.select(_synthetic_runs(new_index, pr_count, base))]
    ).with_columns(
        pl.when(run_changed).then(pl.lit("completed")).otherwise("status").alias("status"),
        pl.when(run_changed).then(pl.lit("success")).otherwise("conclusion").alias("conclusion"),
    )
    return ChangesetInputs(
        incoming_prs=incoming.to_arrow().cast(PULL_REQUEST_SCHEMA),
        snapshot_prs=snapshot.to_arrow().cast(PULL_REQUEST_SCHEMA),
        incoming_check_runs=incoming_runs.to_arrow().cast(CHECK_RUN_SCHEMA),
        snapshot_check_runs=snapshot_runs.to_arrow().cast(CHECK_RUN_SCHEMA),
    )


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls (the least disturbed by other processes)."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def measure(inputs: ChangesetInputs, repeats: int = 3) -> tuple[int, float, float]:
    """(input rows, Polars seconds, dict-baseline seconds) for one set of inputs."""
    args = (
        inputs.incoming_prs,
        inputs.snapshot_prs,
        inputs.incoming_check_runs,
        inputs.snapshot_check_runs,
        inputs.mode,
    )
    baseline = compute_changeset_baseline(*args).summary()
    if compute_changeset(*args).summary() != baseline:
        raise AssertionError("the Polars changeset and the dict baseline disagree")
    if compute_changeset_digest_first(*args).summary() != baseline:
        raise AssertionError("the digest-first changeset and the dict baseline disagree")
    rows = sum(table.num_rows for table in args[:4] if isinstance(table, pa.Table))
    polars_seconds = best_seconds(lambda: compute_changeset(*args), repeats)
    baseline_seconds = best_seconds(lambda: compute_changeset_baseline(*args), 1)
    return rows, polars_seconds, baseline_seconds


def main() -> None:
    """Print rows/s of the Polars changeset and of the dict baseline on three sizes."""
    for pr_count, run_count in ((100_000, 10_000), (100_000, 100_000), (100_000, 1_000_000)):
        rows, polars_seconds, baseline_seconds = measure(
            synthetic_changeset_inputs(pr_count, run_count)
        )
        print(
            f"{pr_count:>7} PRs {run_count:>9} check runs ({rows:>9} input rows): "
            f"polars {polars_seconds:6.3f} s = {rows / polars_seconds:>12,.0f} rows/s | "
            f"dicts {baseline_seconds:6.2f} s = {rows / baseline_seconds:>10,.0f} rows/s | "
            f"{baseline_seconds / polars_seconds:5.1f}x"
        )


if __name__ == "__main__":
    main()
