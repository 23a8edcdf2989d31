"""A lean HTTP/1.1 transport for the webhook sender's ``httpx.AsyncClient`` (``http://`` only).

Measured on this machine, httpcore's pool spends ~1 ms of CPU per request at 4 connections and
several ms at 32 (its per-request scans of every connection), which caps the sender far below
the 1,000 deliveries/s a receiver is benchmarked at. This transport keeps the httpx client API
(headers, timeouts, responses, errors) and does the exchange itself over asyncio streams:
keep-alive connections pooled per host and port, ``Content-Length`` or chunked responses.

A request on a reused connection that the peer had already closed (no byte of an answer came
back) is written once more on a fresh connection, as HTTP clients do for stale keep-alive
connections: the receiver never saw the first write, so this is not a delivery retry.
``https://`` URLs go through httpx's own transport (see the sender).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
MAX_HEADER_BYTES = 64 * 1024


class StaleConnectionError(Exception):
    """The peer closed a kept-alive connection before answering."""


class PlainHTTP11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams with an idle-connection pool per (host, port)."""

    def __init__(self, max_idle_per_host: int = 64) -> None:
        self.max_idle = max_idle_per_host
        self.idle: dict[tuple[str, int], list[Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = _total_timeout(request)
        try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            async with asyncio.timeout(timeout):
                return await self._handle(request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out", request=request) from exc

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        key = (request.url.host, request.url.port or 80)
        body = await request.aread()
        head = _request_head(request)
        pooled = self.idle.get(key)
        if pooled:
            try:
                return await self._exchange(request, key, pooled.pop(), head, body)
            except StaleConnectionError:
                pass
        try:
            connection = await asyncio.open_connection(*key)
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        try:
            return await self._exchange(request, key, connection, head, body)
        except StaleConnectionError as exc:
            raise httpx.RemoteProtocolError("Server disconnected", request=request) from exc

    async def _exchange(
        self,
        request: httpx.Request,
        key: tuple[str, int],
        connection: Connection,
        head: bytes,
        body: bytes,
    ) -> httpx.Response:
        reader, writer = connection
        try:
            writer.write(head + body)
            await writer.drain()
            try:
                status_line = await reader.readuntil(b"\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise StaleConnectionError from exc
                raise
            status, headers, keep_alive = await _read_head(status_line, reader)
            content = await _read_body(reader, headers, keep_alive)
        except StaleConnectionError:
            writer.close()
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            writer.close()
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
        except BaseException:  # cancelled by the timeout: never leave the socket open
            writer.close()
            raise
        if keep_alive and len(self.idle.setdefault(key, [])) < self.max_idle:
            self.idle[key].append(connection)
        else:
            writer.close()
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        for connections in self.idle.values():
            for _, writer in connections:
                writer.close()
        self.idle.clear()


def _total_timeout(request: httpx.Request) -> float | None:
    timeouts: dict[str, Any] = request.extensions.get("timeout", {})
    values = [v for v in timeouts.values() if v is not None]
    return max(values) if values else None


def _request_head(request: httpx.Request) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    lines += [name + b": " + value for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_head(
    status_line: bytes, reader: asyncio.StreamReader
) -> tuple[int, list[tuple[bytes, bytes]], bool]:
    version, _, rest = status_line.partition(b" ")
    status = int(rest[:3])
    raw = await reader.readuntil(b"\r\n\r\n")
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError("response headers too large")
    headers = []
    for line in raw[:-4].split(b"\r\n"):
        if line:
            name, _, value = line.partition(b":")
            headers.append((name.strip(), value.strip()))
    fields = {n.lower(): v.lower() for n, v in headers}
    framed = (
        b"chunked" in fields.get(b"transfer-encoding", b"")
        or b"content-length" in fields
        or status in (204, 304)
    )
    keep_alive = framed and b"close" not in fields.get(b"connection", b"")
    return status, headers, keep_alive and version == b"HTTP/1.1"


async def _read_body(
    reader: asyncio.StreamReader, headers: list[tuple[bytes, bytes]], keep_alive: bool
) -> bytes:
    fields = {n.lower(): v for n, v in headers}
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                await _skip_trailers(reader, chunk)
                return b"".join(chunks)
            chunks.append(chunk[:-2])
    if b"content-length" in fields:
        return await reader.readexactly(int(fields[b"content-length"]))
    if keep_alive:  # 204/304: no body
        return b""
    return await reader.read()  # unframed: the body ends when the server closes


async def _skip_trailers(reader: asyncio.StreamReader, after_last: bytes) -> None:
    """After the last chunk: ``\\r\\n`` (read already) or trailer fields up to a blank line."""
    line = after_last
    while line not in (b"\r\n", b""):
        line = await reader.readuntil(b"\r\n")
