"""The sender's HTTP/1.1 transport against raw loopback servers: keep-alive reuse, chunked
answers, a kept-alive connection the peer closed (written again on a fresh one, once: the
peer never saw it), and a peer that drops mid-answer (an error, not a retry)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from prmon_pipeline.fakehub.webhook_transport import PlainHTTP11Transport

pytestmark = pytest.mark.servers

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n"
PLAIN = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


async def exchange(handler: Handler, bodies: list[bytes]) -> tuple[list[object], int]:
    """POST ``bodies`` one after another through one transport; the results (status and
    text, or the exception) and how many connections the server accepted."""
    accepted = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    results: list[object] = []
    async with httpx.AsyncClient(transport=PlainHTTP11Transport(), timeout=5) as client:
        for body in bodies:
            try:
                response = await client.post(f"http://127.0.0.1:{port}/hook", content=body)
                results.append((response.status_code, response.text))
            except httpx.HTTPError as exc:
                results.append(type(exc))
    server.close()
    await server.wait_closed()
    return results, accepted


def test_keep_alive_and_chunked_answers() -> None:
    seen: list[bytes] = []

    async def serve_all(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in (PLAIN, CHUNKED, PLAIN):
            seen.append(await read_request(reader))
            writer.write(answer)
            await writer.drain()

    results, accepted = asyncio.run(exchange(serve_all, [b"a", b"bb", b"ccc"]))
    assert results == [(202, "ok"), (200, "ok!!!"), (202, "ok")]
    assert seen == [b"a", b"bb", b"ccc"] and accepted == 1


def test_a_closed_keep_alive_connection_is_replaced_once() -> None:
    seen: list[bytes] = []

    async def one_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        seen.append(await read_request(reader))
        writer.write(PLAIN)  # keep-alive promised, then closed: a stale pooled connection
        await writer.drain()

    results, accepted = asyncio.run(exchange(one_per_connection, [b"1", b"2"]))
    assert results == [(202, "ok"), (202, "ok")]
    assert seen == [b"1", b"2"] and accepted == 2  # each body reached the server once


def test_a_peer_dropping_mid_answer_is_an_error() -> None:
    seen: list[bytes] = []

    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\nok")
        await writer.drain()

    results, accepted = asyncio.run(exchange(half, [b"x"]))
    assert results == [httpx.ReadError]
    assert seen == [b"x"] and accepted == 1
