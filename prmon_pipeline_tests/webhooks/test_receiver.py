"""The receiver's answers, over httpx's ASGI transport, storing into real PostgreSQL.

Every rule of issue 16's "Receiver: durable before it answers": 401 before anything is stored,
413 without reading the rest, 400 + a stored 'rejected' row, ping, unknown events, duplicates,
503 when PostgreSQL is down, and no secret in answers, reprs or logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlencode

import httpx
import orjson
import psycopg
import pytest

from prmon_pipeline.core.webhook_signature import SignatureSecret
from prmon_pipeline.warehouse.webhook_inbox import DeliveryInbox
from prmon_pipeline.webhooks.receiver import WebhookReceiver

Conn = psycopg.Connection[tuple[object, ...]]
SECRET = "correct horse battery staple"
PAYLOAD = {
    "action": "opened",
    "number": 3,
    "pull_request": {"id": 33, "number": 3, "updated_at": "2026-12-04T10:00:00Z"},
    "repository": {"id": 77, "full_name": "acme/hooks", "name": "hooks"},
    "sender": {"login": "octocat"},
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(guid: str, event: str = "pull_request", body: bytes = b"", **extra: str):
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid,
        "X-GitHub-Hook-ID": "4242",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": "77",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body),
    }
    headers.update(extra)
    return headers


Scenario = Callable[[httpx.AsyncClient, WebhookReceiver], Awaitable[None]]


def run(database_url: str, scenario: Scenario, secret: str | None = SECRET, **kw: int) -> None:
    async def go() -> None:
        receiver = WebhookReceiver(
            DeliveryInbox(database_url), SignatureSecret(secret) if secret else None, **kw
        )
        transport = httpx.ASGITransport(app=receiver)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as http:
                await scenario(http, receiver)
        finally:
            await receiver.inbox.close()

    asyncio.run(go())


def rows(db: Conn) -> list[tuple[object, ...]]:
    return db.execute(
        "SELECT guid, hook_id, event, action, status, reason, repository_github_id,"
        " repository_full_name, content_type, body FROM prmon.webhook_deliveries ORDER BY id"
    ).fetchall()


@pytest.fixture
def db_clean(db: Conn) -> Conn:
    db.execute("DELETE FROM prmon.webhook_deliveries")
    return db


def test_signed_json_and_form_deliveries_are_stored_raw_then_202(
    database_url: str, db_clean: Conn
) -> None:
    body = orjson.dumps(PAYLOAD)
    form = urlencode({"payload": body.decode()}).encode()

    async def scenario(http: httpx.AsyncClient, _: WebhookReceiver) -> None:
        answer = await http.post(
            "/webhooks/github", content=body, headers=github_headers("g-json", body=body)
        )
        assert (answer.status_code, answer.json()) == (202, {"stored": "pending"})
        form_headers = github_headers(
            "g-form", body=form, **{"Content-Type": "application/x-www-form-urlencoded"}
        )
        answer = await http.post("/webhooks/github", content=form, headers=form_headers)
        assert answer.status_code == 202

    run(database_url, scenario)
    stored = rows(db_clean)
    assert [r[:8] for r in stored] == [
        ("g-json", 4242, "pull_request", "opened", "pending", None, 77, "acme/hooks"),
        ("g-form", 4242, "pull_request", "opened", "pending", None, 77, "acme/hooks"),
    ]
    assert bytes(stored[0][9]) == body  # type: ignore[arg-type]
    assert bytes(stored[1][9]) == form  # type: ignore[arg-type]


def test_wrong_or_missing_signature_is_401_and_nothing_is_stored(
    database_url: str, db_clean: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    body = orjson.dumps(PAYLOAD)
    caplog.set_level(logging.DEBUG)

    async def scenario(http: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
        forged = github_headers("g1", body=body, **{"X-Hub-Signature-256": sign(body, "guess")})
        unsigned = github_headers("g2", body=body)
        del unsigned["X-Hub-Signature-256"]
        tampered = github_headers("g3", body=body)
        for headers, content in ((forged, body), (unsigned, body), (tampered, body + b" ")):
            answer = await http.post("/webhooks/github", content=content, headers=headers)
            assert answer.status_code == 401
            assert SECRET not in answer.text
        assert receiver.counters.unauthorized == 3
        assert SECRET not in repr(receiver)

    run(database_url, scenario)
    assert rows(db_clean) == []
    assert SECRET not in caplog.text


def test_malformed_json_is_stored_rejected_with_reason_and_400(
    database_url: str, db_clean: Conn
) -> None:
    bad = b'{"action": "opened", "repository": '

    async def scenario(http: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
        answer = await http.post(
            "/webhooks/github", content=bad, headers=github_headers("g", body=bad)
        )
        assert answer.status_code == 400
        assert answer.json()["stored"] == "rejected"
        assert receiver.counters.rejected == 1

    run(database_url, scenario)
    [row] = rows(db_clean)
    assert row[4] == "rejected"
    assert str(row[5]).startswith("malformed JSON")
    assert bytes(row[9]) == bad  # type: ignore[arg-type]


def test_ping_and_unknown_events_are_acknowledged_and_stored_ignored(
    database_url: str, db_clean: Conn
) -> None:
    ping = orjson.dumps({"zen": "Design for failure.", "hook_id": 4242, "hook": {"id": 4242}})
    push = orjson.dumps({"ref": "refs/heads/main", "repository": PAYLOAD["repository"]})

    async def scenario(http: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
        for guid, event, body in (("p", "ping", ping), ("u", "push", push)):
            answer = await http.post(
                "/webhooks/github", content=body, headers=github_headers(guid, event, body)
            )
            assert answer.status_code == 202
        assert receiver.counters.ignored == 2

    run(database_url, scenario)
    assert [(r[2], r[4], r[5]) for r in rows(db_clean)] == [
        ("ping", "ignored", "ping"),
        ("push", "ignored", "event 'push' is not applied"),
    ]


def test_unregistered_repository_is_acknowledged_and_left_pending(
    database_url: str, db_clean: Conn
) -> None:
    body = orjson.dumps({**PAYLOAD, "repository": {"id": 9, "full_name": "nobody/unknown"}})

    async def scenario(http: httpx.AsyncClient, _: WebhookReceiver) -> None:
        answer = await http.post(
            "/webhooks/github", content=body, headers=github_headers("x", body=body)
        )
        assert answer.status_code == 202

    run(database_url, scenario)
    assert [(r[4], r[7]) for r in rows(db_clean)] == [("pending", "nobody/unknown")]


def test_duplicates_concurrent_or_later_are_2xx_and_stored_once(
    database_url: str, db_clean: Conn
) -> None:
    body = orjson.dumps(PAYLOAD)
    headers = github_headers("dup", body=body)

    async def scenario(http: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
        answers = await asyncio.gather(
            *(http.post("/webhooks/github", content=body, headers=headers) for _ in range(20))
        )
        later = await http.post("/webhooks/github", content=body, headers=headers)
        codes = sorted(a.status_code for a in [*answers, later])
        assert codes == [200] * 20 + [202]
        assert receiver.counters.duplicates == 20

    run(database_url, scenario)
    assert len(rows(db_clean)) == 1


def test_over_the_size_limit_is_413_without_reading_the_rest(
    database_url: str, db_clean: Conn
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for n in range(1000):
            sent.append(n)
            yield b"x" * 1024

    async def scenario(http: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
        declared = b"y" * 5000
        answer = await http.post(
            "/webhooks/github", content=declared, headers=github_headers("big", body=declared)
        )
        assert answer.status_code == 413
        streamed = github_headers("big2", body=b"")
        answer = await http.post("/webhooks/github", content=chunks(), headers=streamed)
        assert answer.status_code == 413
        assert receiver.counters.too_large == 2

    run(database_url, scenario, max_body_bytes=4096)
    assert len(sent) < 10  # stopped after the limit, not after 1000 chunks
    assert rows(db_clean) == []


def test_headers_without_a_guid_are_400_and_not_stored(database_url: str, db_clean: Conn) -> None:
    body = orjson.dumps(PAYLOAD)
    headers = github_headers("g", body=body)
    del headers["X-GitHub-Delivery"]

    async def scenario(http: httpx.AsyncClient, _: WebhookReceiver) -> None:
        answer = await http.post("/webhooks/github", content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (400, {"error": "missing X-GitHub-Delivery"})

    run(database_url, scenario)
    assert rows(db_clean) == []


def test_postgres_down_is_503_and_then_stores_when_back(database_url: str, db_clean: Conn) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    down = f"postgresql://postgres:pw-not-shown@127.0.0.1:{closed_port}/prmon"
    body = orjson.dumps(PAYLOAD)

    async def scenario(http: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
        answer = await http.post(
            "/webhooks/github", content=body, headers=github_headers("d", body=body)
        )
        assert answer.status_code == 503
        assert "pw-not-shown" not in answer.text
        assert receiver.counters.unavailable == 1
        receiver.inbox = DeliveryInbox(database_url)  # PostgreSQL is back: GitHub redelivers
        answer = await http.post(
            "/webhooks/github", content=body, headers=github_headers("d", body=body)
        )
        assert answer.status_code == 202

    async def go() -> None:
        receiver = WebhookReceiver(DeliveryInbox(down), SignatureSecret(SECRET))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=receiver), base_url="http://hooks"
        ) as http:
            try:
                await scenario(http, receiver)
            finally:
                await receiver.inbox.close()

    asyncio.run(go())
    assert [r[0] for r in rows(db_clean)] == ["d"]


def test_unsigned_mode_accepts_and_other_paths_and_methods(
    database_url: str, db_clean: Conn
) -> None:
    body = orjson.dumps(PAYLOAD)
    headers = github_headers("open", body=body)
    del headers["X-Hub-Signature-256"]

    async def scenario(http: httpx.AsyncClient, _: WebhookReceiver) -> None:
        assert (
            await http.post("/webhooks/github", content=body, headers=headers)
        ).status_code == 202
        assert (await http.get("/webhooks/github")).status_code == 405
        assert (await http.post("/elsewhere", content=body)).status_code == 404
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["stored"] == 1

    run(database_url, scenario, secret=None)
    assert len(rows(db_clean)) == 1


class _BrokenInbox:
    """An inbox with a bug (not PostgreSQL's fault): the receiver must answer, not crash."""

    async def store(self, delivery: object) -> str:
        raise RuntimeError(f"bug while storing {SECRET}")

    async def close(self) -> None:
        return None


def test_an_unexpected_error_is_a_500_that_names_nothing(caplog: pytest.LogCaptureFixture) -> None:
    body = orjson.dumps(PAYLOAD)

    async def go() -> None:
        receiver = WebhookReceiver(_BrokenInbox(), SignatureSecret(SECRET))  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=receiver)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as http:
            answer = await http.post(
                "/webhooks/github", content=body, headers=github_headers("b", body=body)
            )
            assert (answer.status_code, answer.json()) == (500, {"error": "internal error"})
            assert (await http.get("/healthz")).json()["errors"] == 1

    asyncio.run(go())
    assert "RuntimeError" in caplog.text
    assert SECRET not in caplog.text
