"""Measure fakehub's webhook send rate (not a test): ``uv run python -m
prmon_pipeline_tests.fakehub.measure_webhook_rate [--deliveries 20000] [--concurrency 32]``.

The receiver is a bare ASGI app answering 202 under uvicorn in a separate process (so it does
not share fakehub's GIL), on loopback. Two rates: the sender alone (pre-rendered signed
check-run bodies submitted as fast as possible, until every attempt is recorded), and the
whole path from ``World.advance`` (observer, rendering, signing, sending).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

import httpx
import orjson

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app
from prmon_pipeline.fakehub.webhook_hooks import WebhookSpec
from prmon_pipeline.fakehub.webhook_sender import Delivery

START = {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]}


async def receiver(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    """Read the body, answer 202 (the cheapest honest receiver)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()  # type: ignore[operator]
        more = message.get("more_body", False)
    await send(START)  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_receiver(port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "critical", "--no-access-log",
        "prmon_pipeline_tests.fakehub.measure_webhook_rate:receiver",
    ]  # fmt: skip
    proc = subprocess.Popen(command)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/", content=b"{}")
            return proc
        except httpx.ConnectError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("receiver did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    port = free_port()
    proc = start_receiver(port)
    url = f"http://127.0.0.1:{port}/webhooks/github"
    try:
        world = World(WorldConfig(seed=1, repositories=10, prs_per_repository=100))
        spec = WebhookSpec(url, kind="org", secret="measure", events=("*",))
        app = create_app(
            world,
            HubConfig(webhooks=(spec,), webhook_concurrency=args.concurrency),
        )
        service = app.state.hub.webhooks
        hook = next(iter(service.store.hooks.values()))
        commit = next(c for c in world.active.values() if c.runs)
        assert commit.runs is not None
        body = service.renderer.check_run(commit.runs[0], commit, "completed")
        payload = orjson.dumps(body)
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.deliveries):
            guid = service.guids.next(world.now_epoch)
            service.sender.submit(
                Delivery(hook, guid, "check_run", "completed", payload, commit.repo.id, None)
            )
        assert service.drain(600)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        ok = sum(1 for a in service.log.attempts.values() if a.status_code == 202)
        print(
            f"sender alone: {args.deliveries} deliveries of {len(payload)} bytes in"
            f" {elapsed:.2f}s = {args.deliveries / elapsed:,.0f}/s ({ok} answered 202);"
            f" fakehub CPU {cpu / args.deliveries * 1000:.3f} ms per delivery"
        )
        before = len(service.log.attempts)
        started = time.perf_counter()
        world.advance(6 * 3600)
        assert service.drain(600)
        elapsed = time.perf_counter() - started
        count = len(service.log.attempts) - before
        print(
            f"world.advance(6h) -> {count} deliveries (observe, render, sign, send) in"
            f" {elapsed:.2f}s = {count / elapsed:,.0f}/s"
        )
        service.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
