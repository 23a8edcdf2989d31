"""A synchronous httpx transport over the ASGI app: a sync ``httpx.Client`` without sockets.

``httpx.ASGITransport`` is async-only and Starlette's TestClient is deprecated with httpx;
sync code (the GitHub adapter, most tests) gets the same in-process path through this: each
request runs the app to completion on a private event loop.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette


class SyncASGITransport(httpx.BaseTransport):
    """Run ``app`` for each request; app exceptions (e.g. an injected reset) propagate."""

    def __init__(self, app: Starlette) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()

    async def _roundtrip(
        self, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        body = request.read()
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=body
        )
        response = await self._inner.handle_async_request(forwarded)
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        return response.status_code, response.headers.raw, raw

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """One request, run to completion on this transport's loop."""
        status, headers, raw = self._loop.run_until_complete(self._roundtrip(request))
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(raw))

    def close(self) -> None:
        """Close the private event loop."""
        self._loop.close()


def sync_client(
    app: Starlette, base_url: str = "http://fakehub.test", **kwargs: object
) -> httpx.Client:
    """An ``httpx.Client`` bound to ``app`` in-process (``base_url`` adds ``/api/v3`` on GHES)."""
    if app.state.hub.config.ghes and not base_url.endswith("/api/v3"):
        base_url += "/api/v3"
    return httpx.Client(transport=SyncASGITransport(app), base_url=base_url, **kwargs)  # type: ignore[arg-type]
