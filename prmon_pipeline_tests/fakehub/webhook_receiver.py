"""A recording webhook receiver for fakehub's webhook tests: a Starlette app that keeps every
POST (headers and raw body) and answers a chosen status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prmon_pipeline.fakehub import HubConfig, World, create_app
from prmon_pipeline.fakehub.app import Hub

URL = "http://receiver.test/webhooks/github"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> str:
        return self.headers["x-github-event"]

    @property
    def guid(self) -> str:
        return self.headers["x-github-delivery"]

    def payload(self) -> dict[str, Any]:
        """The JSON document, from a JSON or a ``payload=`` form body."""
        if self.headers["content-type"] == "application/x-www-form-urlencoded":
            doc: dict[str, Any] = json.loads(parse_qs(self.body.decode())["payload"][0])
            return doc
        found: dict[str, Any] = json.loads(self.body)
        return found


class Receiver:
    """Records deliveries; answers ``status`` (202 by default, as GitHub's samples do)."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: list[Received] = []
        self.app = Starlette(routes=[Route("/webhooks/github", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body()))
        return Response(b"ok", status_code=self.status)

    def of(self, event: str, action: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if r.event == event and (action is None or r.payload().get("action") == action)
        ]

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)


@contextmanager
def hub_for(world: World, receiver: Receiver, **config: Any) -> Iterator[Hub]:
    """A hub whose deliveries reach ``receiver`` in-process; its sender stops afterwards."""
    app = create_app(world, HubConfig(webhook_transport=receiver.transport(), **config))
    hub: Hub = app.state.hub
    try:
        yield hub
    finally:
        hub.webhooks.close()
