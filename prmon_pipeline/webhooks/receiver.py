"""The webhook receiver: a bare ASGI app, durable before it answers.

``POST /webhooks/github`` (issue 16, "Receiver: durable before it answers"), in this order:

1. no ``X-Hub-Signature-256`` (when a secret is configured) → 401 before the body is read;
2. a declared or actual body over 25 MiB → 413, reading stops at the limit;
3. a signature that does not match the raw bytes → 401, nothing stored;
4. headers that do not identify the delivery (no GUID or event) → 400, nothing stored;
5. otherwise the delivery is stored raw (pending, ignored or rejected, with the reason) through
   the group-commit inbox, and only then answered: 202 stored, 200 duplicate (same GUID and
   hook id, not stored twice), 400/415 when the stored body was not usable, 503 when
   PostgreSQL could not store it (GitHub records a failure that can be redelivered).

``GET /healthz`` answers 200 with this process's counters. No framework routing: one request
costs a read loop, one HMAC, one ``orjson.loads`` and one awaited commit, which keeps a single
core above 1,000 deliveries/s. Any exception becomes a 500; the secret never reaches a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import orjson

from prmon_pipeline.core.errors import WarehouseError
from prmon_pipeline.core.webhook_signature import (
    SIGNATURE_HEADER,
    HeaderError,
    SignatureSecret,
    classify,
    header_map,
)
from prmon_pipeline.warehouse.webhook_inbox import (
    Delivery,
    InboxUnavailableError,
    StoreResult,
)

log = logging.getLogger(__name__)

DELIVERY_PATH = "/webhooks/github"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub caps payloads at 25 MB and does not deliver larger ones (webhook-events-and-payloads);
anything above is not GitHub's."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Inbox(Protocol):
    """Where verified deliveries go (``warehouse.webhook_inbox.DeliveryInbox``)."""

    async def store(self, delivery: Delivery) -> StoreResult: ...

    async def close(self) -> None: ...


@dataclass
class ReceiverCounters:
    """What this process answered since it started (``GET /healthz``)."""

    stored: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: int = 0
    unauthorized: int = 0
    too_large: int = 0
    bad_headers: int = 0
    unavailable: int = 0
    errors: int = 0


class _TooLargeError(Exception):
    pass


class _RefusedError(Exception):
    """A delivery answered without storing it: the status, the error text, the counter."""

    def __init__(self, status: int, error: str, counter: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.counter = counter


class WebhookReceiver:
    """The ASGI app. ``secret`` None accepts unsigned deliveries (``--insecure-no-secret``)."""

    def __init__(
        self,
        inbox: Inbox,
        secret: SignatureSecret | None,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.inbox = inbox
        self._secret = secret
        self._max_body = max_body_bytes
        self.counters = ReceiverCounters()

    def __repr__(self) -> str:
        signed = "signed" if self._secret is not None else "UNSIGNED"
        return f"WebhookReceiver({signed}, max_body_bytes={self._max_body})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        try:
            if path == DELIVERY_PATH and method == "POST":
                status, answer = await self._delivery(scope, receive)
            elif path == HEALTH_PATH and method in ("GET", "HEAD"):
                status, answer = 200, {"ok": True, **asdict(self.counters)}
            elif path in (DELIVERY_PATH, HEALTH_PATH):
                status, answer = 405, {"error": "method not allowed"}
            else:
                status, answer = 404, {"error": "not found"}
        except Exception as exc:  # never crash on input: log the type, answer 500
            self.counters.errors += 1
            log.error("webhook receiver: unexpected %s", type(exc).__name__)
            status, answer = 500, {"error": "internal error"}
        await _respond(send, status, answer)

    async def _delivery(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]]:
        headers = header_map(scope["headers"])
        try:
            body = await self._verified_body(headers, receive)
            try:
                decided = classify(headers, body)
            except HeaderError as exc:
                raise _RefusedError(400, str(exc), "bad_headers") from exc
            try:
                result = await self.inbox.store(Delivery(decided, body))
            except InboxUnavailableError as exc:
                message = "not stored: the warehouse is unavailable, redeliver later"
                raise _RefusedError(503, message, "unavailable") from exc
            except WarehouseError as exc:
                raise _RefusedError(500, "not stored", "errors") from exc
        except _RefusedError as refusal:
            setattr(self.counters, refusal.counter, getattr(self.counters, refusal.counter) + 1)
            return refusal.status, {"error": refusal.error}
        return self._stored(result, decided.status, decided.reason, decided.http_status)

    async def _verified_body(self, headers: dict[str, bytes], receive: Receive) -> bytes:
        """The raw body, once its size and signature are acceptable; else :class:`_RefusedError`."""
        signature = headers.get(SIGNATURE_HEADER)
        if self._secret is not None and not signature:
            raise _RefusedError(401, "missing X-Hub-Signature-256", "unauthorized")
        try:
            body = await self._body(headers, receive)
        except _TooLargeError as exc:
            raise _RefusedError(413, f"body over {self._max_body} bytes", "too_large") from exc
        if self._secret is not None and not self._secret.verifies(body, signature):
            raise _RefusedError(401, "signature does not match", "unauthorized")
        return body

    def _stored(
        self, result: StoreResult, status: str, reason: str | None, http_status: int
    ) -> tuple[int, dict[str, Any]]:
        if result == "duplicate":
            self.counters.duplicates += 1
            return 200, {"duplicate": True}
        if status == "rejected":
            self.counters.rejected += 1
            return http_status, {"stored": status, "error": reason}
        if status == "ignored":
            self.counters.ignored += 1
        else:
            self.counters.stored += 1
        return http_status, {"stored": status, **({"reason": reason} if reason else {})}

    async def _body(self, headers: dict[str, bytes], receive: Receive) -> bytes:
        """The raw body; :class:`_TooLargeError` as soon as it is known to exceed the limit."""
        declared = headers.get("content-length", b"").strip()
        if declared.isdigit() and int(declared) > self._max_body:
            raise _TooLargeError
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _TooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.inbox.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _respond(send: Send, status: int, answer: dict[str, Any]) -> None:
    body = orjson.dumps(answer)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
