"""Verifying, decoding and routing webhook deliveries (pure)."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes, urlencode

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prmon_pipeline.core.webhook_signature import (
    BIGINT_MAX,
    HeaderError,
    SignatureSecret,
    classify,
    form_value,
    header_map,
)

# docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries ("Testing the webhook
# payload validation"): GitHub's own test vector.
DOCS_SECRET = "It's a Secret to Everybody"
DOCS_PAYLOAD = b"Hello, World!"
DOCS_SIGNATURE = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

PULL_REQUEST = {
    "action": "opened",
    "number": 7,
    "pull_request": {"id": 1, "number": 7},
    "repository": {"id": 42, "full_name": "acme/widgets", "name": "widgets"},
    "installation": {"id": 9001},
    "sender": {"login": "octocat"},
}


def headers(event: str = "pull_request", content_type: str = "application/json", **extra: str):
    raw = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Github-Hook-Id": "12",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": "42",
        "Content-Type": content_type,
    }
    merged = {k.lower(): v for k, v in raw.items()} | {k.lower(): v for k, v in extra.items()}
    return header_map((k.encode(), v.encode()) for k, v in merged.items())


def test_docs_vector_verifies_and_anything_else_does_not() -> None:
    secret = SignatureSecret(DOCS_SECRET)
    assert secret.signature(DOCS_PAYLOAD) == DOCS_SIGNATURE
    assert secret.verifies(DOCS_PAYLOAD, DOCS_SIGNATURE)
    assert not secret.verifies(DOCS_PAYLOAD + b" ", DOCS_SIGNATURE)
    assert not secret.verifies(DOCS_PAYLOAD, DOCS_SIGNATURE.replace(b"sha256=", b"sha1="))
    assert not secret.verifies(DOCS_PAYLOAD, DOCS_SIGNATURE[:-1])
    assert not secret.verifies(DOCS_PAYLOAD, None)
    assert not secret.verifies(DOCS_PAYLOAD, b"")
    assert not secret.verifies(DOCS_PAYLOAD, "sha256=é".encode())
    assert not SignatureSecret("another").verifies(DOCS_PAYLOAD, DOCS_SIGNATURE)


def test_secret_never_shows() -> None:
    secret = SignatureSecret(DOCS_SECRET)
    assert DOCS_SECRET not in repr(secret)
    assert DOCS_SECRET not in str(secret)
    assert DOCS_SECRET not in f"{secret!r} {secret}"
    with pytest.raises(ValueError):
        SignatureSecret("")


def test_json_delivery_routes_to_pending() -> None:
    decided = classify(headers(), orjson.dumps(PULL_REQUEST))
    assert decided.status == "pending"
    assert decided.http_status == 202
    routing = decided.routing
    assert routing.guid == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert (routing.hook_id, routing.event, routing.action) == (12, "pull_request", "opened")
    assert (routing.target_type, routing.target_id) == ("repository", 42)
    assert (routing.repository_github_id, routing.repository_full_name) == (42, "acme/widgets")
    assert routing.installation_id == 9001


def test_form_delivery_decodes_its_payload_field() -> None:
    body = urlencode({"payload": orjson.dumps(PULL_REQUEST).decode()}).encode()
    decided = classify(headers(content_type="application/x-www-form-urlencoded"), body)
    assert decided.status == "pending"
    assert decided.routing.repository_full_name == "acme/widgets"
    assert decided.routing.content_type == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content_type", "body", "reason", "http"),
    [
        ("application/json", b"{not json", "malformed JSON", 400),
        ("application/json", b"[1, 2]", "payload is a JSON list", 400),
        ("application/json", b"", "malformed JSON", 400),
        ("application/x-www-form-urlencoded", b"other=1", "form body has no payload", 400),
        ("application/x-www-form-urlencoded", b"payload=%7Bnope", "malformed JSON", 400),
        ("application/x-www-form-urlencoded", b"payload=\xff", "form body is not url", 400),
        ("application/x-www-form-urlencoded", b"payload=%ff%fe", "malformed JSON", 400),
        ("text/plain", b"{}", "unsupported content type", 415),
        ("application/json", b'{"action": "opened"}', "no repository", 400),
    ],
)
def test_unusable_bodies_are_rejected_with_a_reason(
    content_type: str, body: bytes, reason: str, http: int
) -> None:
    decided = classify(headers(content_type=content_type), body)
    assert decided.status == "rejected"
    assert decided.reason is not None and decided.reason.startswith(reason)
    assert decided.http_status == http


def test_ping_and_unknown_events_are_ignored_with_a_reason() -> None:
    ping = classify(headers("ping"), orjson.dumps({"zen": "Keep it simple.", "hook_id": 12}))
    assert (ping.status, ping.reason, ping.http_status) == ("ignored", "ping", 202)
    push = classify(headers("push"), orjson.dumps(PULL_REQUEST))
    assert push.status == "ignored"
    assert push.reason == "event 'push' is not applied"
    listed = classify(headers("installation_repositories"), orjson.dumps({"action": "added"}))
    assert listed.status == "pending"


def test_headers_that_do_not_identify_a_delivery() -> None:
    body = orjson.dumps(PULL_REQUEST)
    for missing in ("X-GitHub-Delivery", "X-GitHub-Event"):
        raw = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "g"}
        del raw[missing]
        with pytest.raises(HeaderError, match=missing):
            classify(header_map((k.encode(), v.encode()) for k, v in raw.items()), body)
    with pytest.raises(HeaderError, match="Hook-ID"):
        classify(headers(**{"X-GitHub-Hook-ID": "twelve"}), body)
    no_hook = header_map([(b"x-github-event", b"ping"), (b"x-github-delivery", b"g")])
    assert classify(no_hook, b"{}").routing.hook_id == 0


def test_hostile_values_become_storable() -> None:
    payload = {
        "action": "op\x00ened",
        "repository": {"id": BIGINT_MAX + 1, "full_name": "a/b" + "x" * 5000},
        "installation": {"id": True},
    }
    routing = classify(headers(), orjson.dumps(payload)).routing
    assert routing.action == "opened"
    assert routing.repository_github_id is None
    assert routing.installation_id is None
    assert routing.repository_full_name is not None
    assert len(routing.repository_full_name) == 1000
    weird = classify(headers(**{"X-GitHub-Hook-Installation-Target-ID": "-1"}), b"{}")
    assert weird.routing.target_id is None


FORM_ALPHABET = st.sampled_from(list(b'%+=&aF09zZ \t\r\n_-.~"{}:,'))


@given(st.lists(FORM_ALPHABET, max_size=40).map(bytes))
def test_form_values_decode_exactly_as_the_standard_library(value: bytes) -> None:
    assert form_value(value) == unquote_to_bytes(value.replace(b"+", b" "))


@given(st.text(max_size=200))
def test_form_values_round_trip_any_text(text: str) -> None:
    encoded = urlencode({"payload": text}).encode()
    assert form_value(encoded.removeprefix(b"payload=")) == text.encode()
