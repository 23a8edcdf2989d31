"""GraphQL protocol rules without I/O: endpoint, rate-limit readings, error kinds."""

from __future__ import annotations

import pytest

from prmon_pipeline.core.github_protocol import Outcome
from prmon_pipeline.core.graphql_protocol import (
    GraphQLErrorKind,
    classify_graphql_error,
    graphql_body_decision,
    graphql_url,
    read_rate_limit,
)


@pytest.mark.parametrize(
    ("api_url", "endpoint"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://api.github.com/", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123/graphql"),
    ],
)
def test_the_endpoint_follows_the_rest_base(api_url: str, endpoint: str) -> None:
    assert graphql_url(api_url) == endpoint


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}, "rate"),
        ({"type": "RATE_LIMIT", "message": "x"}, "rate"),
        ({"message": "You have exceeded a secondary rate limit."}, "secondary"),
        ({"message": "timedout"}, "shrink"),
        ({"message": "Something went wrong while executing your query. This may be..."}, "shrink"),
        ({"message": "Resource limits for this query exceeded.", "path": ["r0", "h1"]}, "shrink"),
        ({"type": "MAX_NODE_LIMIT_EXCEEDED", "message": "This query requests up to"}, "shrink"),
        ({"type": "NOT_FOUND", "message": "Could not resolve to a Repository"}, "not_found"),
        ({"type": "FORBIDDEN", "message": "no"}, "other"),
    ],
)
def test_error_kinds(error: dict[str, object], kind: str) -> None:
    expected = {
        "rate": GraphQLErrorKind.RATE_LIMITED,
        "secondary": GraphQLErrorKind.SECONDARY,
        "shrink": GraphQLErrorKind.SHRINK,
        "not_found": GraphQLErrorKind.NOT_FOUND,
        "other": GraphQLErrorKind.OTHER,
    }[kind]
    assert classify_graphql_error(error) is expected


def test_rate_limited_waits_for_the_reset_even_when_the_header_says_some_are_left() -> None:
    body = {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}
    headers = {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "4",
        "x-ratelimit-reset": "1100",
        "x-ratelimit-resource": "graphql",
    }
    decision = graphql_body_decision(body, headers, now_epoch=1000.0)
    assert decision is not None
    assert decision.outcome is Outcome.WAIT and decision.wait_seconds == 101.0
    assert graphql_body_decision({"data": {}}, headers, now_epoch=1000.0) is None
    no_headers = graphql_body_decision(body, {}, now_epoch=1000.0)
    assert no_headers is not None and no_headers.wait_seconds == 60.0


def test_a_secondary_limit_in_the_body_obeys_retry_after_then_doubles() -> None:
    body = {"errors": [{"message": "You have exceeded a secondary rate limit"}]}
    told = graphql_body_decision(body, {"retry-after": "7"}, now_epoch=0.0)
    assert told is not None and told.wait_seconds == 7.0 and told.secondary
    again = graphql_body_decision(body, {}, now_epoch=0.0, secondary_attempt=2)
    assert again is not None and again.wait_seconds == 240.0


def test_rate_limit_reading() -> None:
    body = {
        "data": {
            "rateLimit": {
                "cost": 3,
                "remaining": 4990,
                "limit": 5000,
                "resetAt": "1970-01-01T00:16:40Z",
                "nodeCount": 151,
            }
        }
    }
    reading = read_rate_limit(body)
    assert reading is not None
    assert (reading.cost, reading.remaining, reading.reset_epoch) == (3, 4990, 1000)
    assert reading.node_count == 151
    assert read_rate_limit({"data": {"rateLimit": None}}) is None
    assert read_rate_limit({"errors": []}) is None
