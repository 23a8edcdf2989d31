"""Delivering webhooks: signed POSTs from an asyncio queue on a thread of its own.

World changes happen on whatever thread mutates the world (the serve loop's ticker, a test),
under the world lock; they only render the body and :meth:`WebhookSender.submit` it. A
dedicated thread runs an event loop with ``concurrency`` sender tasks sharing one
``httpx.AsyncClient``, so slow receivers never block fakehub's REST/GraphQL serving and a fast
receiver gets deliveries in parallel. As on GitHub: one attempt, no retry, a 10 s timeout
(30 s on GHES), every attempt recorded for the deliveries API.

Headers follow GitHub (GITHUB-WEBHOOKS.md section 1): ``X-GitHub-Event``,
``X-GitHub-Delivery`` (the GUID), ``X-GitHub-Hook-ID``, ``X-GitHub-Hook-Installation-Target-
Type``/``-ID``, ``User-Agent: GitHub-Hookshot/<7 hex>``, both signatures only when a secret is
set, ``X-GitHub-Enterprise-Version``/``-Host`` on GHES. ``form`` hooks get
``payload=<url-encoded JSON>`` and the signatures cover those exact bytes.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from prmon_pipeline.fakehub.webhook_deliveries import Attempt, DeliveryLog
from prmon_pipeline.fakehub.webhook_faults import SENDER_KINDS, WebhookFaults
from prmon_pipeline.fakehub.webhook_hooks import TARGET_TYPES, Hook
from prmon_pipeline.fakehub.webhook_transport import PlainHTTP11Transport

USER_AGENT = "GitHub-Hookshot/4f2c1e9"
GHES_VERSION = "3.19.0"
TIMEOUT_SECONDS = {False: 10.0, True: 30.0}
RESPONSE_BODY_KEPT = 4096
"""Bytes of a receiver's answer kept for ``GET …/deliveries/{id}``."""


def signature(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    """``sha256=<hex HMAC of body>`` (``sha1=…`` for the legacy header)."""
    digest = hmac.new(secret.encode(), body, algorithm).hexdigest()
    return f"{algorithm}={digest}"


@dataclass(slots=True)
class Delivery:
    """One event for one hook: the compact JSON payload and where it came from."""

    hook: Hook
    guid: str
    event: str
    action: str | None
    payload: bytes
    repository_id: int | None
    installation_id: int | None
    redelivery: bool = False
    faultable: bool = True
    at: int | None = None
    """World time of the event (``delivered_at`` of its first attempts); None: now."""


@dataclass(slots=True)
class Held:
    """A reordered delivery and how many later deliveries must pass it first."""

    delivery: Delivery
    remaining: int


def encode(delivery: Delivery, ghes_host: str | None) -> tuple[dict[str, str], bytes]:
    """The headers and the exact body GitHub would send for this delivery."""
    hook = delivery.hook
    if hook.content_type == "form":
        body = urlencode({"payload": delivery.payload.decode()}).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        body, content_type = delivery.payload, "application/json"
    headers = {
        "Accept": "*/*",
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        "X-GitHub-Delivery": delivery.guid,
        "X-GitHub-Event": delivery.event,
        "X-GitHub-Hook-ID": str(hook.id),
        "X-GitHub-Hook-Installation-Target-ID": str(hook.target_id),
        "X-GitHub-Hook-Installation-Target-Type": TARGET_TYPES[hook.kind],
    }
    if hook.secret:
        headers["X-Hub-Signature"] = signature(hook.secret, body, "sha1")
        headers["X-Hub-Signature-256"] = signature(hook.secret, body)
    if ghes_host is not None:
        headers["X-GitHub-Enterprise-Version"] = GHES_VERSION
        headers["X-GitHub-Enterprise-Host"] = ghes_host
    return headers, body


def _masked(headers: dict[str, str]) -> dict[str, str]:
    """Request headers as the deliveries API shows them (signatures are not secrets)."""
    return dict(headers)


class WebhookSender:
    """The queue, the sender tasks and the record of their attempts."""

    def __init__(
        self,
        log: DeliveryLog,
        faults: WebhookFaults,
        now: Callable[[], int],
        *,
        ghes_host: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = 32,
    ) -> None:
        self.log = log
        self.faults = faults
        self.now = now
        self.ghes_host = ghes_host
        self.timeout = TIMEOUT_SECONDS[ghes_host is not None]
        self.transport = transport
        self.concurrency = concurrency
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[Delivery] | None = None
        self.client: httpx.AsyncClient | None = None
        self.thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0
        self._stopping = False
        self._held: list[Held] = []
        self.sent = 0

    # -- producer side (any thread) ---------------------------------------------------------

    def submit(self, delivery: Delivery) -> None:
        """Queue one delivery, applying the sender faults to fresh deliveries."""
        spec = None
        if delivery.faultable:
            spec = self.faults.pick(SENDER_KINDS, delivery.event)
        if spec is not None and spec.kind == "drop":
            self._record_unsent(delivery)
            return
        released = self._count_down()
        if spec is not None and spec.kind == "reorder":
            with self._idle:
                self._pending += 1
                self._held.append(Held(delivery, spec.hold))
        else:
            copies = 2 if spec is not None and spec.kind == "duplicate" else 1
            delay = spec.delay if spec is not None and spec.kind == "delay" else 0.0
            for _ in range(copies):
                self._enqueue(delivery, delay)
        for held in released:
            self._put(held)

    def _count_down(self) -> list[Delivery]:
        """One more delivery passes every held one; those whose turn came are released."""
        with self._idle:
            for entry in self._held:
                entry.remaining -= 1
            due = [e.delivery for e in self._held if e.remaining <= 0]
            self._held = [e for e in self._held if e.remaining > 0]
        return due

    def _enqueue(self, delivery: Delivery, delay: float = 0.0) -> None:
        with self._idle:
            self._pending += 1
        self._put(delivery, delay)

    def _put(self, delivery: Delivery, delay: float = 0.0) -> None:
        loop, queue = self._started()
        if delay > 0:
            loop.call_soon_threadsafe(loop.call_later, delay, queue.put_nowait, delivery)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, delivery)

    def release_held(self) -> None:
        """Send every held (reordered) delivery now."""
        with self._idle:
            held, self._held = self._held, []
        for entry in held:
            self._put(entry.delivery)

    def drain(self, timeout: float = 30.0) -> bool:
        """Release held deliveries and wait until every queued one was attempted."""
        self.release_held()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _record_unsent(self, delivery: Delivery) -> None:
        headers, body = encode(delivery, self.ghes_host)
        attempt = self._attempt(delivery, headers, body)
        attempt.status, attempt.status_code = "failed to connect", 0
        self.log.record(attempt)
        delivery.hook.last_status = (None, "failed to connect")

    def _attempt(self, delivery: Delivery, headers: dict[str, str], body: bytes) -> Attempt:
        return Attempt(
            id=self.log.next_id(),
            guid=delivery.guid,
            hook_id=delivery.hook.id,
            event=delivery.event,
            action=delivery.action,
            installation_id=delivery.installation_id,
            repository_id=delivery.repository_id,
            url=delivery.hook.url,
            delivered_at=self.now() if delivery.redelivery or delivery.at is None else delivery.at,
            redelivery=delivery.redelivery,
            request_headers=_masked(headers),
            body=body,
            payload=delivery.payload,
        )

    # -- the sender thread ----------------------------------------------------------------

    def _started(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Delivery]]:
        with self._start:
            if self.loop is None:
                ready = threading.Event()
                self.thread = threading.Thread(
                    target=self._run, args=(ready,), name="fakehub-webhooks", daemon=True
                )
                self.thread.start()
                ready.wait()
        assert self.loop is not None and self.queue is not None
        return self.loop, self.queue

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.queue = asyncio.Queue()
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
        if self.transport is None:  # see webhook_transport: httpcore's pool is the bottleneck
            mounts["http://"] = PlainHTTP11Transport(self.concurrency)
        self.client = httpx.AsyncClient(
            transport=self.transport, timeout=self.timeout, limits=limits, mounts=mounts
        )
        workers = [loop.create_task(self._work()) for _ in range(self.concurrency)]
        self.loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            self._stopping = True
            for worker in workers:
                worker.cancel()
            loop.run_until_complete(asyncio.wait(workers, timeout=2))
            loop.run_until_complete(self.client.aclose())
            loop.close()

    async def _work(self) -> None:
        assert self.queue is not None
        while not self._stopping:
            delivery = await self.queue.get()
            try:
                await self._send(delivery)
            finally:
                with self._idle:
                    self._pending -= 1
                    if self._pending <= 0:
                        self._idle.notify_all()

    async def _send(self, delivery: Delivery) -> None:
        assert self.client is not None
        headers, body = encode(delivery, self.ghes_host)
        attempt = self._attempt(delivery, headers, body)
        started = time.perf_counter()
        try:
            response = await self.client.post(delivery.hook.url, content=body, headers=headers)
        except httpx.TimeoutException:
            attempt.status, attempt.status_code = "timed out", 0
        except httpx.HTTPError:
            attempt.status, attempt.status_code = "failed to connect", 0
        else:
            code = response.status_code
            ok = 200 <= code <= 299
            attempt.status = "OK" if ok else f"Invalid HTTP Response: {code}"
            attempt.status_code = code
            attempt.response_headers = dict(response.headers)
            attempt.response_body = response.text[:RESPONSE_BODY_KEPT]
        attempt.duration = time.perf_counter() - started
        self.sent += 1
        self.log.record(attempt)
        delivery.hook.last_status = (attempt.status_code or None, attempt.status)

    def close(self) -> None:
        """Stop the sender thread (queued deliveries are abandoned)."""
        loop, thread = self.loop, self.thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self.loop = None
