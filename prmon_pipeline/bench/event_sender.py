"""The events benchmark's load generator, in a process of its own (its CPU is a neighbour's).

``ingest``: render ``--count`` ``pull_request`` deliveries with fakehub's own payload renderer
(a small generated world, every body a different PR), sign them, and send them over
``--connections`` keep-alive connections with raw asyncio streams (no HTTP library: the
client must cost less than the server it measures).

``extras``: the deliveries GitHub never sends but the receiver must survive — ``--forged``
with a wrong signature, ``--malformed`` with a valid signature over broken JSON — spread over
``--spread`` seconds, so they land between the world's real deliveries.

The secret comes from ``PRMON_WEBHOOK_SECRET``. Prints one JSON line: sent, seconds, statuses
by code, the GUIDs it used (``extras``), and this process's CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

import orjson

from prmon_pipeline.bench.event_requests import (
    MALFORMED_BODY,
    delivery_request,
    forged_signature,
    response_head,
    signature,
)
from prmon_pipeline.fakehub import World, WorldConfig
from prmon_pipeline.fakehub.webhook_payloads import PayloadRenderer

SECRET_VARIABLE = "PRMON_WEBHOOK_SECRET"  # noqa: S105 - the variable's name
BENCH_HOOK_ID = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m prmon_pipeline.bench.event_sender")
    parser.add_argument("mode", choices=("ingest", "extras"))
    parser.add_argument("--url", required=True, help="the receiver's delivery URL")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--forged", type=int, default=0)
    parser.add_argument("--malformed", type=int, default=0)
    parser.add_argument("--spread", type=float, default=5.0, help="seconds (extras)")
    return parser


def rendered_bodies(count: int) -> list[bytes]:
    """``count`` realistic ``pull_request`` bodies: fakehub's rendering of distinct PRs."""
    world = World(WorldConfig(seed=7, repositories=1, prs_per_repository=max(count, 1)))
    renderer = PayloadRenderer(world.cfg.api_url, world.cfg.html_url)
    repo = world.find_repository(world.repository_names()[0])
    assert repo is not None
    pulls = list(repo.pulls.values())
    return [
        orjson.dumps(renderer.pull_request(pr, "synchronize", pr.user, {})) for pr in pulls[:count]
    ]


async def _exchange(
    requests: Sequence[bytes], host: str, port: int, statuses: Counter[int]
) -> None:
    """Send ``requests`` one after the other on one keep-alive connection."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length = response_head(head[:-4])
            await reader.readexactly(length)
            statuses[status] += 1
    finally:
        writer.close()


async def _send_all(requests: list[bytes], url: str, connections: int) -> Counter[int]:
    parts = urlsplit(url)
    statuses: Counter[int] = Counter()
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    await asyncio.gather(
        *(_exchange(requests[i::connections], host, port, statuses) for i in range(connections))
    )
    return statuses


def ingest(url: str, secret: bytes, count: int, connections: int) -> dict[str, object]:
    host = urlsplit(url).netloc
    bodies = rendered_bodies(count)
    requests = [
        delivery_request(
            host,
            b,
            event="pull_request",
            guid=str(uuid.uuid4()),
            hook_id=BENCH_HOOK_ID,
            signed=signature(secret, b),
        )
        for b in bodies
    ]
    cpu, started = _cpu_seconds(), time.perf_counter()
    statuses = asyncio.run(_send_all(requests, url, connections))
    seconds = time.perf_counter() - started
    return {
        "sending_cpu_seconds": round(_cpu_seconds() - cpu, 3),
        "sent": len(requests),
        "seconds": round(seconds, 3),
        "statuses": {str(k): v for k, v in statuses.items()},
        "body_bytes_mean": round(sum(map(len, bodies)) / max(len(bodies), 1)),
    }


async def _spread(requests: list[bytes], url: str, seconds: float) -> Counter[int]:
    """One connection per request (as GitHub does), started evenly over ``seconds``."""
    statuses: Counter[int] = Counter()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    gap = seconds / max(len(requests), 1)
    tasks = []
    for request in requests:
        tasks.append(asyncio.create_task(_exchange([request], host, port, statuses)))
        await asyncio.sleep(gap)
    await asyncio.gather(*tasks)
    return statuses


def _pull_request(host: str, body: bytes, guid: str, signed: str) -> bytes:
    return delivery_request(
        host, body, event="pull_request", guid=guid, hook_id=BENCH_HOOK_ID, signed=signed
    )


def extras(
    url: str, secret: bytes, forged: int, malformed: int, spread: float
) -> dict[str, object]:
    host = urlsplit(url).netloc
    body = rendered_bodies(1)[0]
    forged_guids = [str(uuid.uuid4()) for _ in range(forged)]
    malformed_guids = [str(uuid.uuid4()) for _ in range(malformed)]
    requests = [
        _pull_request(host, body, g, forged_signature(secret, body)) for g in forged_guids
    ] + [
        _pull_request(host, MALFORMED_BODY, g, signature(secret, MALFORMED_BODY))
        for g in malformed_guids
    ]
    random.Random(len(requests)).shuffle(requests)  # forged and malformed mixed over time
    started = time.perf_counter()
    statuses = asyncio.run(_spread(requests, url, spread))
    return {
        "sent": len(requests),
        "seconds": round(time.perf_counter() - started, 3),
        "statuses": {str(k): v for k, v in statuses.items()},
        "forged_guids": forged_guids,
        "malformed_guids": malformed_guids,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    secret = os.environ.get(SECRET_VARIABLE, "").encode()
    if not secret:
        sys.stderr.write(f"{SECRET_VARIABLE} is not set\n")
        return 2
    if args.mode == "ingest":
        figures = ingest(args.url, secret, args.count, args.connections)
    else:
        figures = extras(args.url, secret, args.forged, args.malformed, args.spread)
    figures["cpu_seconds"] = round(_cpu_seconds(), 3)
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
