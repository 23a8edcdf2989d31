"""The record of every delivery attempt, as GitHub's deliveries API shows it.

Each attempt has its own numeric ``id``; a redelivery is a new attempt with the same ``guid``
and ``redelivery: true``. Lists are newest first (id descending), ``per_page`` at most 100
(default 30), paged by an opaque ``cursor`` that the ``Link`` header carries, and filtered by
``status``: ``success`` is a status code 200-399, ``failure`` 400-599 (so an attempt that got no
HTTP answer, code 0, is in neither: recover by GUID, as GitHub's own sample does). Attempts
older than the retention (3 days, 7 on GHES) by the world clock are forgotten; so is the
oldest attempt beyond ``kept`` (a bound on memory for long benchmarks).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from prmon_pipeline.fakehub.render_repository import iso

JSON = dict[str, Any]
DAY = 86400
DELIVERY_ID_BASE = 80_000_000_000


@dataclass(slots=True, eq=False)
class Attempt:
    """One POST (or one that could not be made) of one delivery to one hook."""

    id: int
    guid: str
    hook_id: int
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    url: str
    delivered_at: int
    redelivery: bool
    request_headers: dict[str, str]
    body: bytes
    payload: bytes
    duration: float = 0.0
    status: str = "pending"
    status_code: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""

    def item(self) -> JSON:
        """``hook-delivery-item``."""
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }

    def detail(self) -> JSON:
        """``hook-delivery``: the item plus the URL, the request and the response."""
        doc = self.item()
        doc["url"] = self.url
        doc["request"] = {
            "headers": self.request_headers,
            "payload": _json_or_none(self.payload),
        }
        doc["response"] = {"headers": self.response_headers, "payload": self.response_body}
        return doc


def _json_or_none(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


class DeliveryLog:
    """Attempts by id, thread-safe (the sender thread records, the HTTP thread reads)."""

    def __init__(self, retention_days: int, kept: int) -> None:
        self.retention = retention_days * DAY
        self.kept = kept
        self.attempts: OrderedDict[int, Attempt] = OrderedDict()
        self.lock = threading.Lock()
        self._next = DELIVERY_ID_BASE

    def next_id(self) -> int:
        with self.lock:
            self._next += 1
            return self._next

    def record(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts[attempt.id] = attempt
            while len(self.attempts) > self.kept:
                self.attempts.popitem(last=False)

    def expire(self, now: int) -> None:
        """Forget attempts older than the retention at world time ``now``."""
        with self.lock:
            for ident in [
                k for k, a in self.attempts.items() if a.delivered_at < now - self.retention
            ]:
                del self.attempts[ident]

    def get(self, hook_id: int, attempt_id: int) -> Attempt | None:
        with self.lock:
            found = self.attempts.get(attempt_id)
        return found if found is not None and found.hook_id == hook_id else None

    def of_hook(self, hook_id: int) -> list[Attempt]:
        """The hook's finished attempts, newest first."""
        with self.lock:
            found = [a for a in self.attempts.values() if a.hook_id == hook_id]
        done = [a for a in found if a.status != "pending"]
        return sorted(done, key=lambda a: a.id, reverse=True)

    def page(self, hook_id: int, pairs: list[tuple[str, str]]) -> tuple[list[Attempt], str | None]:
        """One page of a hook's attempts and the ``cursor`` of the next page (None: last).

        Raises ``ValueError`` for a bad ``per_page``, ``cursor`` or ``status``.
        """
        params = dict(pairs)
        per_page = min(100, max(1, int(params.get("per_page", "30"))))
        status = params.get("status")
        if status not in (None, "success", "failure"):
            raise ValueError("status")
        cursor = params.get("cursor")
        below = int(cursor) if cursor else None
        chosen = []
        for attempt in self.of_hook(hook_id):
            if below is not None and attempt.id >= below:
                continue
            if status == "success" and not 200 <= attempt.status_code <= 399:
                continue
            if status == "failure" and not 400 <= attempt.status_code <= 599:
                continue
            chosen.append(attempt)
            if len(chosen) > per_page:
                break
        more = len(chosen) > per_page
        chosen = chosen[:per_page]
        return chosen, str(chosen[-1].id) if more and chosen else None


def next_link(base: str, path: str, pairs: list[tuple[str, str]], cursor: str) -> str:
    """``Link: <…?per_page=N&cursor=C>; rel="next"`` keeping the caller's other parameters."""
    kept = [(k, v) for k, v in pairs if k != "cursor"] + [("cursor", cursor)]
    return f'<{base}{path}?{urlencode(kept)}>; rel="next"'
