"""The events benchmark's pure pieces: what it sends (signed, forged, malformed) and how it
sums latencies up. The receiver's own verifier judges the signatures, so a bench that forged
valid ones (or signed its valid ones wrongly) would fail here, not measure nonsense."""

from __future__ import annotations

import orjson
import pytest

from prmon_pipeline.bench.event_requests import (
    MALFORMED_BODY,
    delivery_request,
    forged_signature,
    percentile,
    response_head,
    shares,
    signature,
)
from prmon_pipeline.bench.events import next_step
from prmon_pipeline.core.webhook_signature import SignatureSecret

SECRET = b"bench-secret"
BODY = b'{"action":"edited","number":7}'


def test_signature_verifies_and_forgery_does_not() -> None:
    verifier = SignatureSecret(SECRET.decode())
    assert verifier.verifies(BODY, signature(SECRET, BODY).encode())
    forged = forged_signature(SECRET, BODY)
    assert forged.startswith("sha256=") and len(forged) == len(signature(SECRET, BODY))
    assert not verifier.verifies(BODY, forged.encode())


def test_malformed_body_is_not_json() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(MALFORMED_BODY)


def test_delivery_request_carries_github_headers_and_exact_body() -> None:
    raw = delivery_request(
        "127.0.0.1:8787", BODY, event="pull_request", guid="g-1", hook_id=12, signed="sha256=ab"
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /webhooks/github HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["X-GitHub-Event"] == "pull_request"
    assert headers["X-GitHub-Delivery"] == "g-1"
    assert headers["X-GitHub-Hook-ID"] == "12"
    assert headers["X-Hub-Signature-256"] == "sha256=ab"
    assert int(headers["Content-Length"]) == len(BODY) and body == BODY


def test_response_head_reads_status_and_length() -> None:
    head = b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 17"
    assert response_head(head) == (202, 17)
    assert response_head(b"HTTP/1.1 401 Unauthorized") == (401, 0)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 100.0


def test_shares_rounds_and_keeps_at_least_one() -> None:
    assert shares(10_000, 0.05) == 500
    assert shares(300, 0.01) == 3
    assert shares(30, 0.01) == 1
    assert shares(100, 0.0) == 0 and shares(0, 0.5) == 0


def test_next_step_aims_at_a_tenth_of_what_remains() -> None:
    assert next_step(1.0, 100, 10_000, 60.0) == 10.0  # 100/s: 1,000 more in 10 s
    assert next_step(10.0, 5_000, 5_000, 60.0) == 1.0  # never below one second
    assert next_step(1.0, 0, 500, 60.0) == 2.0  # nothing happened: double
    assert next_step(40.0, 0, 500, 60.0) == 60.0  # … up to the longest step
    assert next_step(1.0, 1, 1_000_000, 60.0) == 60.0
    assert next_step(5.0, 10, 0, 60.0) == 1.0
