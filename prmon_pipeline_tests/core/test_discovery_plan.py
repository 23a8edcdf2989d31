"""The pure discovery rules: cutoffs, duplicates, which SHAs to poll, validator cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from prmon_pipeline.core.discovery_plan import (
    CheckRunTarget,
    KnownPullRequest,
    compact,
    decode_check_run_validators,
    encode_check_run_validators,
    graphql_read_marker,
    known_pull_requests_from_arrow,
    latest_per_number,
    long_running_shas,
    page_reaches_cutoff,
    plan_check_run_targets,
    prune_check_run_etags,
    route_check_run_targets,
    walk_cutoff,
)
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def pr(
    number: int,
    *,
    sha: str = "",
    state: str = "open",
    updated: int = 0,
    closed: int | None = None,
    title: str = "t",
) -> dict[str, Any]:
    return {
        "number": number,
        "github_id": number * 10,
        "title": title,
        "body": None,
        "state": state,
        "draft": False,
        "author_login": "a",
        "base_ref": "main",
        "base_sha": "b" * 40,
        "head_ref": f"f{number}",
        "head_sha": sha or f"{number:040d}",
        "head_repo_full_name": None,
        "labels": [],
        "assignees": [],
        "html_url": "u",
        "created_at": NOW - timedelta(days=100),
        "updated_at": NOW - timedelta(hours=updated),
        "closed_at": None if closed is None else NOW - timedelta(days=closed),
        "merged_at": None,
    }


def table(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), PULL_REQUEST_SCHEMA)


def test_cutoff_and_stop_rule() -> None:
    assert walk_cutoff(None, timedelta(minutes=5)) is None
    cutoff = walk_cutoff(NOW, timedelta(minutes=5))
    assert cutoff == NOW - timedelta(minutes=5)
    assert not page_reaches_cutoff(table(pr(1, updated=0)), cutoff)
    assert page_reaches_cutoff(table(pr(1, updated=0), pr(2, updated=1)), cutoff)
    assert not page_reaches_cutoff(table(pr(2, updated=1)), None)


def test_duplicates_across_pages_resolve_to_the_newest() -> None:
    first = table(pr(1, updated=5, title="old"), pr(2, updated=4))
    second = table(pr(1, updated=1, title="new"), pr(3, updated=9))
    result = latest_per_number([first, second])
    assert result.column("number").to_pylist() == [1, 2, 3]
    assert result.column("title").to_pylist()[0] == "new"
    assert result.schema == PULL_REQUEST_SCHEMA
    assert latest_per_number([]).num_rows == 0


def test_targets_for_moved_open_pending_and_old_closed_prs() -> None:
    seen = table(
        pr(1, sha="new1"),  # head moved: unconditional
        pr(2, sha="same2"),  # open, unchanged head: conditional (re-runs)
        pr(3, sha="same3", state="closed", closed=1),  # closed, nothing pending: skipped
        pr(4, sha="new4", state="merged", closed=90),  # moved but closed long ago: look-back
        pr(9, sha="same9", state="closed", closed=1),  # was open at the last sync: conditional
    )
    known = {
        1: KnownPullRequest(1, "old1", "open"),
        2: KnownPullRequest(2, "same2", "open"),
        3: KnownPullRequest(3, "same3", "closed", NOW - timedelta(days=1)),
        4: KnownPullRequest(4, "old4", "merged", NOW - timedelta(days=90)),
        5: KnownPullRequest(5, "sha5", "closed", NOW - timedelta(days=2), checks_pending=True),
        6: KnownPullRequest(6, "sha6", "closed", NOW - timedelta(days=2)),
        7: KnownPullRequest(7, "same2", "closed", NOW - timedelta(days=200)),  # shares a SHA
        9: KnownPullRequest(9, "same9", "open"),
    }
    targets = plan_check_run_targets(
        seen, known, "incremental", now=NOW, lookback=timedelta(days=30)
    )
    assert targets == [
        CheckRunTarget("new1", (1,), conditional=False),
        CheckRunTarget("same2", (2, 7), conditional=True),
        CheckRunTarget("same9", (9,), conditional=True),
        CheckRunTarget("sha5", (5,), conditional=True),
    ]
    everything = plan_check_run_targets(seen, known, "full", now=NOW, lookback=None)
    assert {t.head_sha for t in everything} == {"new1", "same2", "same3", "new4", "same9"}
    # Full mode skips closed PRs whose finished runs were fetched before (an ETag is stored).
    again = plan_check_run_targets(
        seen, known, "full", now=NOW, lookback=None, fetched_shas={"same3", "new4"}
    )
    assert {t.head_sha for t in again} == {"new1", "same2", "new4", "same9"}  # new4 moved


def test_without_the_open_pr_sweep_only_changed_or_pending_prs_are_polled() -> None:
    seen = table(pr(2, sha="same2"), pr(9, sha="same9", state="closed", closed=1))
    known = {
        2: KnownPullRequest(2, "same2", "open"),
        9: KnownPullRequest(9, "same9", "open"),
        10: KnownPullRequest(10, "sha10", "open"),  # open, untouched, all checks done: skipped
        11: KnownPullRequest(11, "sha11", "open", checks_pending=True),
    }
    swept = plan_check_run_targets(
        seen, known, "incremental", now=NOW, lookback=None, refresh_open=True
    )
    quiet = plan_check_run_targets(
        seen, known, "incremental", now=NOW, lookback=None, refresh_open=False
    )
    assert {t.head_sha for t in swept} == {"same2", "same9", "sha10", "sha11"}
    assert {t.head_sha for t in quiet} == {"same2", "same9", "sha11"}
    assert all(t.conditional for t in quiet)
    # Read only because their PR was updated (GraphQL may skip them): not the pending one,
    # and nothing the sweep asked for.
    assert {t.head_sha for t in quiet if t.only_changed} == {"same2", "same9"}
    assert not any(t.only_changed for t in swept)


def test_known_prs_from_a_warehouse_snapshot() -> None:
    prs = table(pr(1, sha="a"), pr(2, sha="b", state="closed", closed=3))
    runs = pa.Table.from_pylist(
        [
            {"pr_number": 1, "github_id": 1, "head_sha": "a", "name": "n", "status": "queued"},
            {"pr_number": 2, "github_id": 2, "head_sha": "old", "name": "n", "status": "queued"},
            {"pr_number": 2, "github_id": 3, "head_sha": "b", "name": "n", "status": "completed"},
        ],
        CHECK_RUN_SCHEMA,
    )
    known = known_pull_requests_from_arrow(prs, runs)
    assert known[1].checks_pending and known[1].head_sha == "a"
    assert not known[2].checks_pending  # the queued run belongs to an old head
    assert known[2].closed_at == NOW - timedelta(days=3)


def test_validators_round_trip_and_pruning() -> None:
    assert encode_check_run_validators([("u1", 'W/"a"')]) == 'W/"a"'
    value = encode_check_run_validators([("u1", '"a"'), ("https://x/r?page=2", 'W/"b"')])
    assert value is not None
    assert decode_check_run_validators(value) == ('"a"', [("https://x/r?page=2", 'W/"b"')])
    assert decode_check_run_validators('W/"a"') == ('W/"a"', [])
    assert encode_check_run_validators([("u1", None)]) is None
    assert prune_check_run_etags({"a": "1", "b": "2"}, ["b", "c"]) == {"b": "2"}


def test_unique_pages_are_kept_as_walked_and_equal_stamps_go_to_the_later_page() -> None:
    first = table(pr(3, updated=1), pr(1, updated=2))
    second = table(pr(2, updated=3))
    assert latest_per_number([first, second]).column("number").to_pylist() == [3, 1, 2]
    again = table(pr(1, updated=2, title="fetched later"))
    result = latest_per_number([first, second, again])
    assert result.column("number").to_pylist() == [1, 2, 3]
    assert result.column("title").to_pylist()[0] == "fetched later"


def test_compact_makes_one_chunk_of_many_small_tables() -> None:
    pages = [table(pr(n, updated=n)) for n in range(1, 40)]
    compacted = compact(pages)
    assert compacted.num_rows == 39
    assert compacted.column("number").num_chunks == 1
    assert compacted.equals(pa.concat_tables(pages))


def _run(sha: str, status: str, started: datetime | None, run_id: int = 1) -> dict[str, Any]:
    return {
        "pr_number": 1,
        "github_id": run_id,
        "head_sha": sha,
        "name": f"job {run_id}",
        "status": status,
        "conclusion": "success" if status == "completed" else None,
        "app_slug": "github-actions",
        "details_url": None,
        "started_at": started,
        "completed_at": None,
        "output_title": None,
        "output_summary": None,
    }


def test_long_running_shas_have_a_run_unfinished_for_over_an_hour_by_its_started_at() -> None:
    stuck, young, done, unknown = "a" * 40, "b" * 40, "c" * 40, "d" * 40
    runs = pa.Table.from_pylist(
        [
            _run(stuck, "completed", NOW - timedelta(days=3), 1),
            _run(stuck, "queued", NOW - timedelta(days=2), 2),  # never started: stuck
            _run(young, "in_progress", NOW - timedelta(minutes=59), 3),
            _run(young, "completed", NOW - timedelta(days=2), 4),  # an old run, finished
            _run(done, "completed", NOW - timedelta(days=9), 5),
            _run(unknown, "queued", None, 6),
        ],
        schema=CHECK_RUN_SCHEMA,
    )
    assert long_running_shas(runs, NOW) == {stuck}
    assert long_running_shas(runs, NOW, timedelta(minutes=30)) == {stuck, young}
    # A clock behind GitHub's (a simulator running ahead) sees runs younger: none moves.
    assert long_running_shas(runs, NOW - timedelta(days=3)) == set()
    assert long_running_shas(CHECK_RUN_SCHEMA.empty_table(), NOW) == set()


def test_a_long_running_sha_with_its_rest_etag_is_polled_by_rest_while_its_checks_run() -> None:
    """Once its ETag is stored, a pending SHA is a conditional target with a REST validator:
    REST polls it (free 304s) every cycle; a young one read by GraphQL stays on GraphQL."""
    stuck, young = "a" * 40, "b" * 40
    known = {
        1: KnownPullRequest(1, stuck, "open", checks_pending=True),
        2: KnownPullRequest(2, young, "open", checks_pending=True),
    }
    seen = table()  # nothing updated: a steady cycle
    targets = plan_check_run_targets(
        seen, known, "incremental", now=NOW, lookback=None, refresh_open=False
    )
    assert [(t.head_sha, t.conditional) for t in targets] == [(stuck, True), (young, True)]
    routes = route_check_run_targets(
        targets, {stuck: 'W/"rest-etag"', young: graphql_read_marker(NOW)}
    )
    assert [t.head_sha for t in routes.rest] == [stuck]
    assert [t.head_sha for t in routes.graphql] == [young]
