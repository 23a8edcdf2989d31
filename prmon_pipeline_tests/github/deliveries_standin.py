"""A STAND-IN for GitHub's webhook deliveries API, for this branch's tests only.

Not fakehub: fakehub's own deliveries API (branch fakehub-webhooks) was built at the same time,
and the lead adds an end-to-end test against it at merge. This plays only the documented shapes
(REST OpenAPI in npm @octokit/openapi 23.0.2: ``repos/list-webhook-deliveries``,
``repos/redeliver-webhook-delivery``, the ``orgs/…`` and ``apps/…`` twins; schema
``hook-delivery-item``): newest first, ``per_page`` ≤ 100, the next page's ``cursor`` only in
the ``Link`` header, redelivery → 202 and a new attempt with the same GUID and
``redelivery: true``; the App's routes accept only an RS256 JWT of the App.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BASE = "http://standin.test"


@dataclass
class DeliveriesStandIn:
    """Attempts per hook path (``repos/o/n/hooks/1``, ``orgs/o/hooks/2``, ``app/hook``)."""

    app_public_key: str | None = None
    app_id: str = "1"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Attempts newest first, as GitHub lists them."""
    redelivery_status: str = "OK"
    refuse: set[int] = field(default_factory=set)
    """Attempt ids whose redelivery answers 422 (e.g. older than the retention)."""
    requests: list[str] = field(default_factory=list)
    next_id: int = 1000

    def attempt(
        self, hook: str, guid: str, minutes_ago: float, status: str = "OK", code: int = 200
    ) -> dict[str, Any]:
        """Add one attempt ``minutes_ago`` (kept newest first)."""
        self.next_id += 1
        item = {
            "id": self.next_id,
            "guid": guid,
            "delivered_at": _stamp(self.now - timedelta(minutes=minutes_ago)),
            "redelivery": False,
            "duration": 0.27,
            "status": status,
            "status_code": code,
            "event": "pull_request",
            "action": "opened",
            "installation_id": None,
            "repository_id": 77,
            "throttled_at": None,
        }
        attempts = self.hooks.setdefault(hook, [])
        attempts.append(item)
        attempts.sort(key=lambda a: (a["delivered_at"], a["id"]), reverse=True)
        return item

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/repos/{owner}/{name}/hooks/{hook:int}/deliveries", self._list),
                Route("/orgs/{org}/hooks/{hook:int}/deliveries", self._list),
                Route("/app/hook/deliveries", self._list),
                Route(
                    "/repos/{owner}/{name}/hooks/{hook:int}/deliveries/{id:int}/attempts",
                    self._redeliver,
                    methods=["POST"],
                ),
                Route(
                    "/orgs/{org}/hooks/{hook:int}/deliveries/{id:int}/attempts",
                    self._redeliver,
                    methods=["POST"],
                ),
                Route("/app/hook/deliveries/{id:int}/attempts", self._redeliver, methods=["POST"]),
            ]
        )

    def _hook(self, request: Request) -> str:
        path = request.url.path.strip("/")
        return path[: path.index("/deliveries")]

    def _refused(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or not token:
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        if request.url.path.startswith("/app/"):
            try:
                claims = jwt.decode(token, self.app_public_key or "", algorithms=["RS256"])
            except jwt.PyJWTError:
                return JSONResponse(
                    {"message": "A JSON web token could not be decoded"}, status_code=401
                )
            if str(claims.get("iss")) != self.app_id:
                return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return None

    async def _list(self, request: Request) -> Response:
        self.requests.append(f"GET {request.url.path}?{request.url.query}")
        refused = self._refused(request)
        if refused is not None:
            return refused
        hook = self._hook(request)
        if hook not in self.hooks:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        per_page = min(int(request.query_params.get("per_page", "30")), 100)
        start = int(request.query_params.get("cursor", "0"))
        attempts = self.hooks[hook]
        page = attempts[start : start + per_page]
        headers = {}
        if start + per_page < len(attempts):
            base = str(request.base_url).rstrip("/")
            url = f"{base}/{hook}/deliveries?per_page={per_page}&cursor={start + per_page}"
            headers["link"] = f'<{url}>; rel="next"'
        return JSONResponse(page, headers=headers)

    async def _redeliver(self, request: Request) -> Response:
        self.requests.append(f"POST {request.url.path}")
        refused = self._refused(request)
        if refused is not None:
            return refused
        hook = self._hook(request)
        delivery_id = request.path_params["id"]
        original = next((a for a in self.hooks.get(hook, []) if a["id"] == delivery_id), None)
        if original is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        if delivery_id in self.refuse:
            return JSONResponse({"message": "Validation Failed"}, status_code=422)
        self.now = datetime.now(UTC)  # GitHub stamps the new attempt when it makes it
        again = self.attempt(hook, original["guid"], 0, self.redelivery_status)
        again["redelivery"] = True
        return JSONResponse({}, status_code=202)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
