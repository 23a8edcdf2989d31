"""Protocol functions replayed over the recorded exchanges of the corpus (no HTTP)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from prmon_pipeline.core.github_protocol import (
    API_VERSION,
    Outcome,
    RateLimit,
    backoff_delay,
    classify_response,
    next_page_url,
    parse_link_header,
    request_headers,
)
from prmon_pipeline_tests.core.corpus import corpus_json


def exchange(name: str, index: int) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one recorded response; duplicate headers joined like httpx."""
    response = corpus_json(f"exchanges/{name}")["exchanges"][index]["response"]
    headers: dict[str, str] = {}
    for key, value in response["headers"]:
        lowered = key.lower()
        headers[lowered] = f"{headers[lowered]}, {value}" if lowered in headers else value
    body: Any = response.get("body")
    raw = orjson.dumps(body) if isinstance(body, (dict, list)) else b""
    return response["status"], headers, raw


def test_request_headers_pin_the_version_and_quote_the_etag_verbatim() -> None:
    headers = request_headers("prmon/1", "tok", 'W/"68ec"')
    assert headers == {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "prmon/1",
        "Authorization": "Bearer tok",
        "If-None-Match": 'W/"68ec"',
    }
    assert "Authorization" not in request_headers("prmon/1", None)


def test_link_walk_of_the_recorded_five_pages() -> None:
    name = "pagination-issues-per_page3-5pages-octokit-fixtures-2022.json"
    urls = [next_page_url(exchange(name, i)[1]) for i in range(5)]
    assert urls == [
        f"https://api.github.com/repositories/515435940/issues?per_page=3&page={n}"
        for n in (2, 3, 4, 5)
    ] + [None]
    middle = parse_link_header(exchange(name, 2)[1]["link"])
    assert list(middle) == ["prev", "next", "last", "first"]


def test_check_runs_link_keeps_the_filter() -> None:
    status, headers, _ = exchange("check-runs-filter-latest-all-per_page1-pygithub-2020.json", 2)
    assert status == 200
    assert next_page_url(headers) == (
        "https://api.github.com/repositories/3544490/commits/"
        "10a7135a04f71e6101f8b013aded8a662d08fd1f/check-runs?filter=all&per_page=1&page=2"
    )
    assert next_page_url({}) is None
    assert parse_link_header(None) == {}


def test_rate_limit_value_object_from_headers() -> None:
    _, headers, _ = exchange("redirect-301-renamed-repo-github3py-2021.json", 0)
    assert RateLimit.from_headers(headers) == RateLimit(60, 52, 1635719751, 8, "core")
    _, bare, _ = exchange("secondary-rate-limit-403-retry-after-pygithub-2018.json", 1)
    assert RateLimit.from_headers(bare) is None


def test_primary_limit_waits_until_reset() -> None:
    status, headers, body = exchange(
        "primary-rate-limit-403-remaining-0-pygithub-2013-legacy.json", 1
    )
    assert status == 403 and headers["x-ratelimit-remaining"] == "0"
    # 2013 responses carry no x-ratelimit-reset: wait the documented minimum minute.
    legacy = classify_response(status, headers, body, now_epoch=0)
    assert (legacy.outcome, legacy.wait_seconds) == (Outcome.WAIT, 60)
    current = {**headers, "x-ratelimit-reset": "1000"}
    decision = classify_response(status, current, body, now_epoch=900)
    assert (decision.outcome, decision.wait_seconds) == (Outcome.WAIT, 101)  # +1 s skew
    assert classify_response(429, current, body, now_epoch=1005).wait_seconds == 1


def test_secondary_limit_with_retry_after_uses_it_first() -> None:
    status, headers, body = exchange("secondary-rate-limit-403-retry-after-pygithub-2018.json", 1)
    decision = classify_response(status, headers, body, now_epoch=0, secondary_attempt=3)
    assert (decision.outcome, decision.wait_seconds, decision.secondary) == (Outcome.WAIT, 60, True)
    status, headers, body = exchange("secondary-rate-limit-403-429-hub4j-EDITED-fixtures.json", 1)
    assert status == 429
    assert classify_response(status, headers, body, now_epoch=0).wait_seconds == 8


def test_secondary_limit_marked_only_in_the_body_backs_off_exponentially() -> None:
    status, headers, body = exchange("secondary-rate-limit-403-429-hub4j-EDITED-fixtures.json", 0)
    assert status == 403 and "retry-after" not in headers
    waits = [
        classify_response(status, headers, body, 0, attempt).wait_seconds for attempt in range(4)
    ]
    assert waits == [60, 120, 240, 480]


@pytest.mark.parametrize(
    ("status", "headers", "body", "outcome"),
    [
        (200, {}, b"[]", Outcome.OK),
        (304, {}, b"", Outcome.NOT_MODIFIED),
        (
            403,
            {"x-ratelimit-remaining": "4999"},
            b'{"message":"Resource not accessible by integration"}',
            Outcome.PERMISSION,
        ),
        (
            403,
            {},
            b'{"message":"Must have push access to view repository collaborators."}',
            Outcome.PERMISSION,
        ),
        (404, {}, b'{"message":"Not Found"}', Outcome.PERMISSION),
        (401, {}, b'{"message":"Bad credentials"}', Outcome.PERMISSION),
        (422, {}, b'{"message":"Validation Failed"}', Outcome.FAIL),
        (500, {}, b'{"message":"Server Error"}', Outcome.RETRY),
        (502, {}, b"<!DOCTYPE html><html>Unicorn!</html>", Outcome.RETRY),
        (429, {}, b"", Outcome.WAIT),
    ],
)
def test_classification(
    status: int, headers: dict[str, str], body: bytes, outcome: Outcome
) -> None:
    assert classify_response(status, headers, body, now_epoch=0).outcome is outcome


def test_validation_error_from_the_corpus_is_terminal() -> None:
    status, headers, body = exchange("validation-422-octokit-fixtures-2022.json", 0)
    decision = classify_response(status, headers, body, now_epoch=0)
    assert decision.outcome is Outcome.FAIL
    assert decision.reason == "422 Validation Failed"


def test_backoff_is_jittered_exponential_and_capped() -> None:
    assert backoff_delay(0, 1.0, 60.0, 0.0) == 0.5
    assert backoff_delay(0, 1.0, 60.0, 0.999) < 1.0
    assert backoff_delay(3, 1.0, 60.0, 0.0) == 4.0
    assert backoff_delay(20, 1.0, 60.0, 0.5) == 45.0


def test_header_lookup_is_case_insensitive() -> None:
    assert next_page_url({"LINK": '<https://x/p?page=2>; rel="next"'}) == "https://x/p?page=2"
