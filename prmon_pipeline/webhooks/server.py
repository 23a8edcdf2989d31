"""Serving the receiver: uvicorn on a socket bound here, optionally beside an applier.

The socket is bound before uvicorn starts (port 0 = a free port), so the URL is printed without
parsing logs. Ctrl-C, ``kill -INT`` and a plain ``kill`` stop the server gracefully — in-flight
requests are answered, the inbox's writers stop — even when the process was started with SIGINT
ignored (a shell's background job), and the call then returns normally instead of re-raising
the signal. An applier (``--apply``) runs in the same event loop and is told to stop through an
``asyncio.Event`` once the server is down.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from prmon_pipeline.webhooks.receiver import DELIVERY_PATH, WebhookReceiver

Applier = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _ReceiverServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop gracefully on SIGINT/SIGTERM, then restore the previous handlers (uvicorn's own
        version re-raises the signal afterwards, which would turn a clean stop into an error)."""
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (it is, through uvicorn[standard] of dagster-webserver): a
    third cheaper per request than asyncio's own; else asyncio's."""
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def delivery_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{DELIVERY_PATH}"


def build_server(receiver: WebhookReceiver) -> uvicorn.Server:
    config = uvicorn.Config(
        receiver,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
        backlog=4096,
        timeout_keep_alive=30,
    )
    return _ReceiverServer(config)


async def run_receiver(
    receiver: WebhookReceiver,
    sock: socket.socket,
    *,
    applier: Applier | None = None,
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Serve on ``sock`` until a stop signal; then stop ``applier`` and wait for it."""
    server = build_server(receiver)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stop = asyncio.Event()
    applying = asyncio.create_task(applier(stop)) if applier is not None else None
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started and on_started is not None:
        on_started(delivery_url(sock))
    try:
        if applying is None:
            await serving
        else:
            done, _ = await asyncio.wait({serving, applying}, return_when=asyncio.FIRST_COMPLETED)
            if applying in done and not serving.done():
                server.should_exit = True  # the applier failed: stop serving, report it
            await serving
    finally:
        stop.set()
        if applying is not None:
            await applying
