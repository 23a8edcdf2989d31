"""Planning redeliveries: group attempts by GUID, redeliver one per GUID that never got OK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.webhook_recovery import (
    DeliveryAttempt,
    HookScope,
    check_window_start,
    parse_delivery_attempt,
    plan_redeliveries,
    reaches_checkpoint,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def attempt(n: int, guid: str, minutes_ago: int, status: str = "OK") -> DeliveryAttempt:
    return parse_delivery_attempt(
        {
            "id": n,
            "guid": guid,
            "delivered_at": (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "redelivery": False,
            "duration": 0.5,
            "status": status,
            "status_code": 200 if status == "OK" else 0,
            "event": "pull_request",
            "action": "opened",
            "installation_id": None,
            "repository_id": 7,
        }
    )


def test_one_redelivery_per_guid_that_never_got_ok() -> None:
    since = NOW - timedelta(hours=1)
    attempts = [
        attempt(9, "a", 5, "failed to connect"),
        attempt(8, "b", 6, "OK"),
        attempt(7, "a", 10, "Invalid HTTP Response: 503"),
        attempt(6, "c", 20, "timed out"),
        attempt(5, "c", 25, "OK"),  # c got an OK once: not redelivered
        attempt(4, "d", 90, "failed to connect"),  # before the checkpoint
    ]
    plan = plan_redeliveries(attempts, since)
    assert (plan.attempts, plan.found, plan.already_ok) == (6, 3, 2)
    assert [(a.id, a.guid) for a in plan.to_redeliver] == [(9, "a")]


def test_the_window_starts_24_hours_back_then_a_little_before_the_checkpoint() -> None:
    assert check_window_start(None, NOW) == NOW - timedelta(hours=24)
    assert check_window_start(NOW - timedelta(hours=1), NOW) == NOW - timedelta(minutes=65)


def test_paging_stops_at_the_page_that_reaches_the_checkpoint() -> None:
    since = NOW - timedelta(minutes=30)
    assert not reaches_checkpoint([attempt(1, "a", 1), attempt(2, "b", 29)], since)
    assert reaches_checkpoint([attempt(1, "a", 1), attempt(2, "b", 31)], since)


def test_items_are_parsed_strictly() -> None:
    with pytest.raises(ValueError, match="guid"):
        parse_delivery_attempt({"id": 1, "delivered_at": "2026-12-04T00:00:00Z"})
    with pytest.raises(ValueError):
        parse_delivery_attempt({"id": "1", "guid": "g", "delivered_at": "2026-12-04T00:00:00Z"})
    with pytest.raises(ValueError):
        parse_delivery_attempt({"id": 1, "guid": "g", "delivered_at": "yesterday"})


def test_scopes_validate_and_name_their_endpoints() -> None:
    repo = HookScope.repository("acme/widgets", 12)
    assert repo.deliveries_path == "repos/acme/widgets/hooks/12/deliveries"
    assert repo.attempts_path(99) == "repos/acme/widgets/hooks/12/deliveries/99/attempts"
    assert HookScope.organization("acme", 3).deliveries_path == "orgs/acme/hooks/3/deliveries"
    assert HookScope.app().attempts_path(5) == "app/hook/deliveries/5/attempts"
    with pytest.raises(ConfigurationError):
        HookScope.repository("acme/../etc", 1)
    with pytest.raises(ConfigurationError):
        HookScope.organization("bad org", 1)
    with pytest.raises(ConfigurationError):
        HookScope.repository("acme/widgets", 0)
