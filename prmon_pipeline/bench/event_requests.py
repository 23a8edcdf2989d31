"""What the events benchmark sends and how it sums up: raw HTTP/1.1 deliveries, forged and
malformed ones, and percentiles. Pure (no I/O), so the sender process stays lean and the
pieces are tested alone.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence

from prmon_pipeline.webhooks.receiver import DELIVERY_PATH

MALFORMED_BODY = b'{"action": "opened", "number": 1, "pull_request": {"id": '
"""A JSON document cut short: what a broken proxy might forward, signed correctly."""


def signature(secret: bytes, body: bytes) -> str:
    """``X-Hub-Signature-256`` of ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def forged_signature(secret: bytes, body: bytes) -> str:
    """A well-formed signature that does not match: the HMAC under a different key (what an
    attacker who does not know the secret can at best produce)."""
    return signature(b"not-" + secret, body)


def delivery_request(
    host: str, body: bytes, *, event: str, guid: str, hook_id: int, signed: str
) -> bytes:
    """One ``POST /webhooks/github`` with GitHub's headers, keep-alive, as raw bytes."""
    head = (
        f"POST {DELIVERY_PATH} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "User-Agent: GitHub-Hookshot/bench\r\n"
        "Accept: */*\r\n"
        "Content-Type: application/json\r\n"
        f"X-GitHub-Event: {event}\r\n"
        f"X-GitHub-Delivery: {guid}\r\n"
        f"X-GitHub-Hook-ID: {hook_id}\r\n"
        "X-GitHub-Hook-Installation-Target-Type: repository\r\n"
        f"X-Hub-Signature-256: {signed}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def response_head(head: bytes) -> tuple[int, int]:
    """Status code and ``Content-Length`` of a response head (status line + headers)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, length


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks, as
    numpy's default; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def shares(total: int, rate: float) -> int:
    """How many of ``total`` deliveries a ``rate`` asks for (at least one when rate > 0)."""
    return max(1, round(total * rate)) if rate > 0 and total > 0 else 0
