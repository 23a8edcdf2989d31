"""Serving the receiver beside an applier: a stop signal stops both, an applier failure stops
the server (real uvicorn on a loopback socket; the inbox is never reached)."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest

from prmon_pipeline.core.webhook_signature import SignatureSecret
from prmon_pipeline.warehouse.webhook_inbox import DeliveryInbox
from prmon_pipeline.webhooks.receiver import WebhookReceiver
from prmon_pipeline.webhooks.server import bind, run_receiver


def receiver() -> WebhookReceiver:
    return WebhookReceiver(DeliveryInbox("postgresql://unused@127.0.0.1:1/x"), SignatureSecret("s"))


@pytest.mark.servers
def test_a_stop_signal_stops_the_server_then_tells_the_applier() -> None:
    events: list[str] = []
    probing: list[asyncio.Future[None]] = []

    async def applier(stop: asyncio.Event) -> None:
        events.append("applying")
        await stop.wait()
        events.append("told to stop")

    def probe_then_interrupt(url: str) -> None:
        health = httpx.get(url.replace("/webhooks/github", "/healthz"), timeout=10)
        events.append(f"healthz {health.status_code}")
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    def started(url: str) -> None:
        events.append("started")
        probing.append(asyncio.get_running_loop().run_in_executor(None, probe_then_interrupt, url))

    previous = signal.getsignal(signal.SIGINT)
    with bind("127.0.0.1", 0) as sock:
        asyncio.run(run_receiver(receiver(), sock, applier=applier, on_started=started))
    assert events == ["applying", "started", "healthz 200", "told to stop"]
    assert signal.getsignal(signal.SIGINT) == previous  # handlers restored, nothing re-raised


@pytest.mark.servers
def test_an_applier_failure_stops_the_server_and_is_raised() -> None:
    async def applier(stop: asyncio.Event) -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("applier broke")

    with bind("127.0.0.1", 0) as sock, pytest.raises(RuntimeError, match="applier broke"):
        asyncio.run(run_receiver(receiver(), sock, applier=applier))
