"""Changeset properties (hypothesis): snapshot + changeset = what GitHub showed, and nothing
that did not change is ever reported.

A scenario is a canonical snapshot plus a plan per PR (same, updated, stale, gone, new) and per
check run (same, updated, not re-fetched, new). Incoming rows are then disguised the ways GitHub
and the warehouse legitimately differ (label order, "" for a null body, nanoseconds, another time
zone, row order); the expected outcome is computed row by row in plain Python, independently of
the Polars code under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prmon_pipeline.core.changeset import Changeset, apply_changeset, compute_changeset
from prmon_pipeline.core.changeset_digests import compute_changeset_digest_first
from prmon_pipeline.core.models import SyncMode
from prmon_pipeline.core.normalise import to_frame
from prmon_pipeline.core.schemas import (
    CHECK_RUN_CONCLUSIONS,
    CHECK_RUN_SCHEMA,
    CHECK_RUN_STATUSES,
    PR_STATES,
    PULL_REQUEST_SCHEMA,
)
from prmon_pipeline_tests.core.test_changeset import assert_tables_equal

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)
ComputeChangeset = Callable[[pa.Table, pa.Table, pa.Table, pa.Table, SyncMode], Changeset]
BOTH_PATHS = pytest.mark.parametrize(
    "compute",
    [compute_changeset, compute_changeset_digest_first],
    ids=["full_comparison", "digest_first"],
)
"""Every property holds for the full comparison and for the digest-first path that replaces it
(whose warehouse, in memory, returns the snapshot's digests and only the differing rows)."""
LABELS = ("bug", "ci", "docs", "a,b", 'quote"d', "été")
EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
TIMESTAMPS = st.integers(0, 15 * 365 * 86_400 * 10**6).map(
    lambda microseconds: EPOCH + timedelta(microseconds=microseconds)
)
SHORT_TEXT = st.sampled_from(("a", "fix", "x y", "ÿ", "long title " * 3))
PR_FIELDS = tuple(name for name in PULL_REQUEST_SCHEMA.names if name != "number")
RUN_FIELDS = tuple(
    name for name in CHECK_RUN_SCHEMA.names if name not in ("pr_number", "github_id")
)


@st.composite
def pr_rows(draw: st.DrawFn, number: int) -> dict[str, Any]:
    """A pull request in canonical form: labels sorted, body null or non-empty."""
    state = draw(st.sampled_from(PR_STATES))
    return {
        "number": number,
        "github_id": draw(st.integers(1, 2**40)),
        "title": draw(SHORT_TEXT),
        "body": draw(st.none() | SHORT_TEXT),
        "state": state,
        "draft": draw(st.booleans()),
        "author_login": draw(st.none() | SHORT_TEXT),
        "base_ref": "main",
        "base_sha": draw(st.sampled_from(["a" * 40, "c" * 40])),
        "head_ref": f"topic-{number}",
        "head_sha": draw(st.sampled_from(["b" * 40, "d" * 40])),
        "head_repo_full_name": draw(st.none() | st.just("fork/repo")),
        "labels": sorted(draw(st.lists(st.sampled_from(LABELS), unique=True, max_size=3))),
        "assignees": sorted(draw(st.lists(st.sampled_from(("amy", "bo")), unique=True))),
        "html_url": f"https://github.com/o/r/pull/{number}",
        "created_at": draw(TIMESTAMPS),
        "updated_at": draw(TIMESTAMPS),
        "closed_at": draw(TIMESTAMPS) if state != "open" else None,
        "merged_at": draw(TIMESTAMPS) if state == "merged" else None,
    }


@st.composite
def check_run_rows(draw: st.DrawFn, pr_number: int, github_id: int) -> dict[str, Any]:
    return {
        "pr_number": pr_number,
        "github_id": github_id,
        "head_sha": draw(st.sampled_from(["b" * 40, "d" * 40])),
        "name": draw(st.sampled_from(["tests", "lint"])),
        "status": draw(st.sampled_from(CHECK_RUN_STATUSES)),
        "conclusion": draw(st.none() | st.sampled_from(CHECK_RUN_CONCLUSIONS)),
        "app_slug": draw(st.none() | st.just("github-actions")),
        "details_url": draw(st.none() | st.just("https://ci.example/run")),
        "started_at": draw(st.none() | TIMESTAMPS),
        "completed_at": draw(st.none() | TIMESTAMPS),
        "output_title": draw(st.none() | SHORT_TEXT),
        "output_summary": draw(st.none() | SHORT_TEXT),
    }


def changed_value(draw: st.DrawFn, schema: pa.Schema, name: str, value: Any) -> Any:
    """A value of field ``name`` that differs from ``value`` even after normalisation."""
    field = schema.field(name)
    if name == "state":
        return draw(st.sampled_from([state for state in PR_STATES if state != value]))
    if value is None:  # only text and timestamp fields are nullable
        return EPOCH if pa.types.is_timestamp(field.type) else "set"
    if field.nullable and draw(st.booleans()):
        return None
    if pa.types.is_timestamp(field.type):
        return value + timedelta(microseconds=draw(st.integers(1, 10**9)))
    if pa.types.is_boolean(field.type):
        return not value
    if pa.types.is_integer(field.type):
        return value + 1
    if pa.types.is_large_list(field.type):
        return sorted({*value, "zz-added"})
    return value + "!"


def mutate_pull_request(draw: st.DrawFn, row: dict[str, Any]) -> dict[str, Any]:
    """A real change to one to three fields, and an ``updated_at`` that did not go backwards."""
    changed = dict(row)
    any_fields = st.lists(st.sampled_from(PR_FIELDS), min_size=1, max_size=3, unique=True)
    # state alone half the time: transitions are the rule with the most cases
    for name in draw(st.just(["state"]) | any_fields):
        changed[name] = changed_value(draw, PULL_REQUEST_SCHEMA, name, row[name])
    bump = timedelta(microseconds=draw(st.integers(0, 10**9)))
    changed["updated_at"] = row["updated_at"] + bump
    if changed == row:  # only updated_at was drawn, with a zero bump
        changed["updated_at"] += timedelta(microseconds=1)
    return changed


def mutate_check_run(draw: st.DrawFn, row: dict[str, Any]) -> dict[str, Any]:
    """A real change to one to three fields of a check run."""
    changed = dict(row)
    for name in draw(st.lists(st.sampled_from(RUN_FIELDS), min_size=1, max_size=3, unique=True)):
        changed[name] = changed_value(draw, CHECK_RUN_SCHEMA, name, row[name])
    return changed


def disguise_pull_request(draw: st.DrawFn, row: dict[str, Any]) -> dict[str, Any]:
    """The same pull request as GitHub may send it: labels unsorted, an empty body as ""."""
    disguised = dict(row)
    disguised["labels"] = draw(st.permutations(row["labels"]))
    disguised["assignees"] = draw(st.permutations(row["assignees"]))
    if row["body"] is None and draw(st.booleans()):
        disguised["body"] = ""
    return disguised


def canonical(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "labels": sorted(row["labels"]),
        "assignees": sorted(row["assignees"]),
        "body": row["body"] or None,
    }


def with_nanoseconds_in_another_zone(table: pa.Table) -> pa.Table:
    """Timestamps as nanoseconds in Kolkata, with sub-microsecond digits the warehouse drops."""
    timestamps = [field.name for field in table.schema if pa.types.is_timestamp(field.type)]
    return (
        to_frame(table)
        .with_columns(
            pl.col(name).cast(pl.Datetime("ns", "Asia/Kolkata")) + pl.duration(nanoseconds=789)
            for name in timestamps
        )
        .to_arrow()
    )


@dataclass(frozen=True)
class Scenario:
    mode: SyncMode
    snapshot_prs: list[dict[str, Any]]
    incoming_prs: list[dict[str, Any]]
    snapshot_runs: list[dict[str, Any]]
    incoming_runs: list[dict[str, Any]]
    disguise_timestamps: bool
    expected_prs: dict[int, dict[str, Any]]
    expected_runs: dict[tuple[int, int], dict[str, Any]]
    new: set[int]
    updated: set[int]
    stale: set[int]
    unchanged: set[int]
    deleted: set[int]
    runs_new: set[tuple[int, int]]
    runs_updated: set[tuple[int, int]]

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
        incoming = pa.Table.from_pylist(self.incoming_prs, schema=PULL_REQUEST_SCHEMA)
        incoming_runs = pa.Table.from_pylist(self.incoming_runs, schema=CHECK_RUN_SCHEMA)
        if self.disguise_timestamps:
            incoming = with_nanoseconds_in_another_zone(incoming)
            incoming_runs = with_nanoseconds_in_another_zone(incoming_runs)
        return (
            incoming,
            pa.Table.from_pylist(self.snapshot_prs, schema=PULL_REQUEST_SCHEMA),
            incoming_runs,
            pa.Table.from_pylist(self.snapshot_runs, schema=CHECK_RUN_SCHEMA),
        )


PR_PLANS = ("same", "updated", "stale", "gone")
RUN_PLANS = ("same", "updated", "not_fetched")


@st.composite
def scenarios(draw: st.DrawFn, changes: bool = True) -> Scenario:
    mode: SyncMode = draw(st.sampled_from(("incremental", "full", "single")))
    snapshot_numbers = draw(st.lists(st.integers(1, 50), unique=True, max_size=6))
    new_numbers = draw(st.lists(st.integers(51, 99), unique=True, max_size=4)) if changes else []
    plans = {n: draw(st.sampled_from(PR_PLANS)) if changes else "same" for n in snapshot_numbers}
    snapshot = {n: draw(pr_rows(n)) for n in snapshot_numbers}
    incoming: list[dict[str, Any]] = []
    expected: dict[int, dict[str, Any]] = {}
    for number, row in snapshot.items():
        plan = plans[number]
        expected[number] = row
        if plan == "same":
            incoming.append(disguise_pull_request(draw, row))
        elif plan == "updated":
            changed = mutate_pull_request(draw, row)
            incoming.append(disguise_pull_request(draw, changed))
            expected[number] = canonical(changed)
        elif plan == "stale":
            older = mutate_pull_request(draw, row)
            older["updated_at"] = row["updated_at"] - timedelta(
                microseconds=draw(st.integers(1, 10**9))
            )
            incoming.append(older)
        elif mode == "full":
            del expected[number]
    for number in new_numbers:
        row = draw(pr_rows(number))
        incoming.append(disguise_pull_request(draw, row))
        expected[number] = canonical(row)

    known = sorted({*snapshot_numbers, *new_numbers})
    snapshot_runs = {
        (n, run_id): draw(check_run_rows(n, run_id))
        for n in snapshot_numbers
        for run_id in draw(st.lists(st.integers(1, 9), unique=True, max_size=2))
    }
    run_plans = {
        key: draw(st.sampled_from(RUN_PLANS)) if changes else "same" for key in snapshot_runs
    }
    incoming_runs: list[dict[str, Any]] = []
    expected_runs = dict(snapshot_runs)
    for key, run in snapshot_runs.items():
        if run_plans[key] == "same":
            incoming_runs.append(run)
        elif run_plans[key] == "updated":
            expected_runs[key] = mutate_check_run(draw, run)
            incoming_runs.append(expected_runs[key])
    runs_new: set[tuple[int, int]] = set()
    if changes and known:
        for run_id in draw(st.lists(st.integers(10, 20), unique=True, max_size=3)):
            key = (draw(st.sampled_from(known)), run_id)
            runs_new.add(key)
            expected_runs[key] = draw(check_run_rows(*key))
            incoming_runs.append(expected_runs[key])

    return Scenario(
        mode=mode,
        snapshot_prs=list(snapshot.values()),
        incoming_prs=draw(st.permutations(incoming)),
        snapshot_runs=list(snapshot_runs.values()),
        incoming_runs=draw(st.permutations(incoming_runs)),
        disguise_timestamps=draw(st.booleans()),
        expected_prs=expected,
        expected_runs=expected_runs,
        new=set(new_numbers),
        updated={n for n, plan in plans.items() if plan == "updated"},
        stale={n for n, plan in plans.items() if plan == "stale"},
        unchanged={n for n, plan in plans.items() if plan == "same"},
        deleted={n for n, plan in plans.items() if plan == "gone"} if mode == "full" else set(),
        runs_new=runs_new,
        runs_updated={key for key, plan in run_plans.items() if plan == "updated"},
    )


def sorted_table(rows: list[dict[str, Any]], schema: pa.Schema, key: list[str]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema).sort_by([(name, "ascending") for name in key])


@pytest.mark.slow
@BOTH_PATHS
@PROPERTY_SETTINGS
@given(scenarios())
def test_applying_the_changeset_to_the_snapshot_yields_what_github_showed(
    compute: ComputeChangeset, scenario: Scenario
) -> None:
    incoming, snapshot, incoming_runs, snapshot_runs = scenario.tables()
    changeset = compute(incoming, snapshot, incoming_runs, snapshot_runs, scenario.mode)

    prs, runs = apply_changeset(snapshot, snapshot_runs, changeset)

    expected_prs = sorted_table(
        list(scenario.expected_prs.values()), PULL_REQUEST_SCHEMA, ["number"]
    )
    expected_runs = sorted_table(
        list(scenario.expected_runs.values()), CHECK_RUN_SCHEMA, ["pr_number", "github_id"]
    )
    assert_tables_equal(prs.sort_by("number"), expected_prs)
    assert_tables_equal(
        runs.sort_by([("pr_number", "ascending"), ("github_id", "ascending")]), expected_runs
    )


@pytest.mark.slow
@BOTH_PATHS
@PROPERTY_SETTINGS
@given(scenarios())
def test_changeset_reports_exactly_what_changed(
    compute: ComputeChangeset, scenario: Scenario
) -> None:
    """No false positives and no misses: each PR and run lands in the one bucket it belongs to."""
    incoming, snapshot, incoming_runs, snapshot_runs = scenario.tables()
    changeset = compute(incoming, snapshot, incoming_runs, snapshot_runs, scenario.mode)

    assert set(changeset.prs_new.column("number").to_pylist()) == scenario.new
    assert set(changeset.prs_updated.column("number").to_pylist()) == scenario.updated
    assert set(changeset.prs_deleted.column("number").to_pylist()) == scenario.deleted
    assert changeset.prs_stale == len(scenario.stale)
    assert changeset.prs_unchanged == len(scenario.unchanged)
    new_runs = {(r["pr_number"], r["github_id"]) for r in changeset.check_runs_new.to_pylist()}
    updated_runs = {
        (r["pr_number"], r["github_id"]) for r in changeset.check_runs_updated.to_pylist()
    }
    assert new_runs == scenario.runs_new
    assert updated_runs == scenario.runs_updated

    snapshot_by_number = {row["number"]: row for row in scenario.snapshot_prs}
    expected_field_changes = {
        (number, field)
        for number in scenario.updated
        for field in PR_FIELDS
        if scenario.expected_prs[number][field] != snapshot_by_number[number][field]
    }
    reported = {(r["number"], r["field"]) for r in changeset.pr_field_changes.to_pylist()}
    assert reported == expected_field_changes

    expected_transitions = {(n, None, scenario.expected_prs[n]["state"]) for n in scenario.new} | {
        (n, snapshot_by_number[n]["state"], scenario.expected_prs[n]["state"])
        for n in scenario.updated
        if snapshot_by_number[n]["state"] not in (scenario.expected_prs[n]["state"], "merged")
    }
    assert {
        (r["number"], r["from_state"], r["to_state"])
        for r in changeset.state_transitions.to_pylist()
    } == expected_transitions


@pytest.mark.slow
@BOTH_PATHS
@PROPERTY_SETTINGS
@given(scenarios(changes=False))
def test_identical_inputs_yield_an_empty_changeset(
    compute: ComputeChangeset, scenario: Scenario
) -> None:
    incoming, snapshot, incoming_runs, snapshot_runs = scenario.tables()
    changeset = compute(incoming, snapshot, incoming_runs, snapshot_runs, scenario.mode)

    assert changeset.is_empty
    assert changeset.pr_field_changes.num_rows == 0
    assert changeset.state_transitions.num_rows == 0
    assert changeset.prs_unchanged == len(scenario.snapshot_prs)
    assert changeset.check_runs_unchanged == len(scenario.snapshot_runs)
