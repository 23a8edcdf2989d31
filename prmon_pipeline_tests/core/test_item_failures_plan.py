"""The pure back-off of SHAs GitHub refuses (404/422 for their check runs) and its planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prmon_pipeline.core.discovery_plan import (
    CHECK_RUN_RETRY_CAP,
    KnownPullRequest,
    check_run_retry_delay,
    failure_is_due,
    next_check_run_failure,
    plan_check_run_targets,
    prune_check_run_failures,
)
from prmon_pipeline.core.models import CheckRunFailure
from prmon_pipeline_tests.core.test_discovery_plan import pr, table

NOW = datetime(2026, 3, 1, tzinfo=UTC)
GONE = "No commit found for SHA: aaa"


def test_retry_delay_doubles_from_one_hour_and_stops_at_a_week() -> None:
    hours = [check_run_retry_delay(n) / timedelta(hours=1) for n in range(1, 11)]
    assert hours == [1, 2, 4, 8, 16, 32, 64, 128, 168, 168]
    assert check_run_retry_delay(10_000) == CHECK_RUN_RETRY_CAP == timedelta(days=7)
    with pytest.raises(ValueError, match="from 1"):
        check_run_retry_delay(0)


def test_a_dead_sha_costs_a_dozen_requests_a_month_not_one_per_cycle() -> None:
    failure, asked, now = None, 0, NOW
    while now < NOW + timedelta(days=30):
        if failure is None or failure_is_due(failure, now):
            failure = next_check_run_failure(failure, "aaa", 422, GONE, now)
            asked += 1
        now += timedelta(minutes=5)
    assert asked == 11  # 0, 1, 3, 7, 15, 31, 63, 127, 255, 423 and 591 hours


def test_next_failure_counts_attempts_and_keeps_the_first_failure_time() -> None:
    first = next_check_run_failure(None, "aaa", 422, GONE, NOW)
    assert first == CheckRunFailure("aaa", 422, GONE, 1, NOW, NOW, NOW + timedelta(hours=1))
    assert not failure_is_due(first, NOW + timedelta(minutes=59))
    assert failure_is_due(first, NOW + timedelta(hours=1))
    later = NOW + timedelta(hours=1, minutes=5)
    second = next_check_run_failure(first, "aaa", 404, "Not Found", later)
    assert (second.attempts, second.http_status, second.message) == (2, 404, "Not Found")
    assert (second.first_failed_at, second.last_failed_at) == (NOW, later)
    assert second.retry_after == later + timedelta(hours=2)


def test_failures_are_forgotten_once_no_pr_points_at_their_sha() -> None:
    failures = {sha: next_check_run_failure(None, sha, 422, GONE, NOW) for sha in ("aaa", "bbb")}
    assert prune_check_run_failures(failures, ["bbb", "ccc"]) == {"bbb": failures["bbb"]}


def test_a_refused_sha_is_skipped_until_its_retry_is_due_even_when_it_just_moved() -> None:
    seen = table(pr(1, sha="aaa"), pr(2, sha="bbb"))
    known = {2: KnownPullRequest(2, "old", "open")}
    failures = {"bbb": next_check_run_failure(None, "bbb", 422, GONE, NOW)}

    def planned(at: datetime) -> list[str]:
        targets = plan_check_run_targets(
            seen, known, "incremental", now=at, lookback=None, failures=failures
        )
        return [t.head_sha for t in targets]

    assert planned(NOW) == ["aaa"]
    assert planned(NOW + timedelta(minutes=30)) == ["aaa"]
    assert planned(NOW + timedelta(hours=1)) == ["aaa", "bbb"]
    assert [
        t.head_sha for t in plan_check_run_targets(seen, known, "full", now=NOW, lookback=None)
    ] == [
        "aaa",
        "bbb",
    ]
