"""The webhook inbox on real PostgreSQL: group commit, duplicates, NOTIFY, counts, outage."""

from __future__ import annotations

import asyncio
import socket

import orjson
import psycopg
import pytest

from prmon_pipeline.core.webhook_signature import classify, header_map
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.webhook_inbox import (
    CHANNEL,
    Delivery,
    DeliveryInbox,
    InboxUnavailableError,
    delivery_counts,
)

Conn = psycopg.Connection[tuple[object, ...]]


def delivery(
    guid: str, hook_id: int = 5, event: str = "pull_request", body: bytes = b""
) -> Delivery:
    payload = body or orjson.dumps(
        {"action": "opened", "repository": {"id": 1, "full_name": "acme/inbox"}, "n": guid}
    )
    headers = header_map(
        [
            (b"x-github-event", event.encode()),
            (b"x-github-delivery", guid.encode()),
            (b"x-github-hook-id", str(hook_id).encode()),
            (b"content-type", b"application/json"),
        ]
    )
    return Delivery(classify(headers, payload), payload)


@pytest.fixture
def clean(db: Conn) -> Conn:
    db.execute("DELETE FROM prmon.webhook_deliveries")
    return db


def test_concurrent_deliveries_commit_in_few_batches_each_once(
    database_url: str, clean: Conn
) -> None:
    deliveries = [delivery(f"guid-{n}") for n in range(300)]
    repeated = [delivery(f"guid-{n}") for n in range(0, 300, 3)]  # 100 duplicates

    async def run() -> tuple[list[str], int]:
        inbox = DeliveryInbox(database_url, writers=2)
        try:
            results = await asyncio.gather(*(inbox.store(d) for d in deliveries + repeated))
            return list(results), inbox.batches
        finally:
            await inbox.close()

    results, batches = asyncio.run(run())
    assert results.count("stored") == 300
    assert results.count("duplicate") == 100
    assert batches < 100  # grouped: far fewer transactions than requests
    rows = clean.execute(
        "SELECT count(*), count(DISTINCT guid) FROM prmon.webhook_deliveries"
    ).fetchone()
    assert rows == (300, 300)
    assert delivery_counts(clean) == {"pending": 300, "applied": 0, "ignored": 0, "rejected": 0}


def test_body_is_stored_exactly_and_same_guid_other_hook_is_another_row(
    database_url: str, clean: Conn
) -> None:
    raw = b'{"action":"opened", "repository":{"id":1,"full_name":"acme/inbox"},"x":"\\u00e9"}\n'

    async def run() -> list[str]:
        inbox = DeliveryInbox(database_url)
        try:
            return [
                await inbox.store(delivery("same", 1, body=raw)),
                await inbox.store(delivery("same", 2, body=raw)),
                await inbox.store(delivery("same", 1, body=raw)),
                await inbox.store(delivery("bad", 1, body=b"{nope")),
                await inbox.store(delivery("p", 1, "ping", b"{}")),
            ]
        finally:
            await inbox.close()

    assert asyncio.run(run()) == ["stored", "stored", "duplicate", "stored", "stored"]
    bodies = clean.execute(
        "SELECT body FROM prmon.webhook_deliveries WHERE guid = 'same'"
    ).fetchall()
    assert [bytes(b) for (b,) in bodies] == [raw, raw]
    rejected = clean.execute(
        "SELECT status, reason FROM prmon.webhook_deliveries WHERE guid = 'bad'"
    ).fetchone()
    assert rejected is not None and rejected[0] == "rejected"
    assert str(rejected[1]).startswith("malformed JSON")
    assert delivery_counts(clean) == {"pending": 2, "applied": 0, "ignored": 1, "rejected": 1}


def test_notify_follows_new_pending_rows_only(database_url: str, clean: Conn) -> None:
    with connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")

        async def store(*items: Delivery) -> None:
            inbox = DeliveryInbox(database_url, writers=1)
            try:
                for item in items:
                    await inbox.store(item)
            finally:
                await inbox.close()

        asyncio.run(store(delivery("ping-1", event="ping", body=b"{}")))
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
        asyncio.run(store(delivery("pr-1")))
        notes = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in notes] == [CHANNEL]
        visible = listener.execute(
            "SELECT count(*) FROM prmon.webhook_deliveries WHERE guid = 'pr-1'"
        ).fetchone()
        assert visible == (1,)
        asyncio.run(store(delivery("pr-1")))  # a duplicate: nothing new to apply
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []


@pytest.mark.servers
def test_postgres_down_fails_every_waiting_delivery() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/nowhere"

    async def run() -> list[BaseException | str]:
        inbox = DeliveryInbox(url)
        try:
            return await asyncio.gather(
                *(inbox.store(delivery(f"g{n}")) for n in range(5)), return_exceptions=True
            )
        finally:
            await inbox.close()

    results = asyncio.run(run())
    assert all(isinstance(r, InboxUnavailableError) for r in results)
    assert all("hunter2" not in str(r) for r in results)


def test_a_backlog_beyond_the_byte_bound_is_refused_at_once(database_url: str, clean: Conn) -> None:
    body = b'{"action":"opened","repository":{"id":1,"full_name":"acme/inbox"},"pad":"' + b"x" * 900
    body += b'"}'

    async def run() -> list[BaseException | str]:
        inbox = DeliveryInbox(database_url, max_queued_bytes=2500)
        try:
            return await asyncio.gather(
                *(inbox.store(delivery(f"b{n}", body=body)) for n in range(5)),
                return_exceptions=True,
            )
        finally:
            await inbox.close()

    results = asyncio.run(run())
    assert results[:2] == ["stored", "stored"]  # queued before any writer ran: two fit
    assert all(isinstance(r, InboxUnavailableError) for r in results[2:])
    assert clean.execute("SELECT count(*) FROM prmon.webhook_deliveries").fetchone() == (2,)
