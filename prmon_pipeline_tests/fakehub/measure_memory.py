"""Measure fakehub's peak memory and serving rates over a cold sync's requests (not a test):
``uv run python -m prmon_pipeline_tests.fakehub.measure_memory [--repos 100 --prs 1000]``.

Builds the benchmark's world (``prmon_pipeline.bench.world_process`` settings) and calls the
ASGI app directly, gzip accepted as the sync's client does, no PostgreSQL: every PR list page of
every repository, then the check runs (``filter=all``) of the head SHAs of the most recently
updated PRs (250 per repository, about what a cold sync with a 30-day look-back reads), then the
same requests again with their ETags (all 304), then a one-hour advance and the list pages again
(the incremental cycles re-render changed pages). Prints requests/s for each phase and the peak
resident set (``VmHWM`` of this process).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app

SHAS_PER_REPOSITORY = 250


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory figure in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def bench_world(repos: int, prs: int, checks: int) -> World:
    """The world ``prmon bench`` serves (seed, churn, open share as in ``world_process``)."""
    return World(
        WorldConfig(
            seed=2026,
            repositories=repos,
            prs_per_repository=prs,
            check_runs_per_sha=checks,
            events_per_hour=prs * 0.01 * 3600.0 / 600.0,
            open_fraction=0.1,
            start=datetime.now(UTC).replace(microsecond=0),
        )
    )


def drive(
    app: Starlette, urls: list[str], etags: dict[str, str], expect: int
) -> tuple[float, float]:
    """GET every URL once (with its stored ETag when ``expect`` is 304); returns requests per
    second of wall time and per second of this process's CPU time (the machine may be shared)."""

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def run() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for url in urls:
            path, _, query = url.partition("?")
            headers = [(b"host", b"fakehub"), (b"accept-encoding", b"gzip")]
            if expect == 304:
                headers.append((b"if-none-match", f'W/"{etags[url]}"'.encode()))
            seen: dict[str, Any] = {}

            scope = {
                "type": "http",
                "method": "GET",
                "path": path,
                "query_string": query.encode(),
                "headers": headers,
                "scheme": "http",
            }
            await app(scope, receive, _recorder(seen))
            assert seen["status"] == expect, (url, seen["status"])
            for name, value in seen["headers"]:
                if name == b"etag":
                    etags[url] = value.decode().removeprefix("W/").strip('"')
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        return len(urls) / wall, len(urls) / cpu

    return asyncio.run(run())


def _recorder(seen: dict[str, Any]) -> Callable[[MutableMapping[str, Any]], Awaitable[None]]:
    """An ASGI ``send`` that keeps the response start (status, headers) in ``seen``."""

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen.update(message)

    return send


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--prs", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=8)
    args = parser.parse_args()
    t0 = time.monotonic()
    world = bench_world(args.repos, args.prs, args.checks)
    built = time.monotonic() - t0
    print(f"world {args.repos}x{args.prs}x{args.checks}: built in {built:.1f}s, ", end="")
    print(f"RSS {status_kib('VmRSS') / 1024:.0f} MB")
    app = create_app(world, HubConfig(rate_limit=10**9))
    pages = max(1, -(-args.prs // 100))
    list_urls = [
        f"/repos/{name}/pulls?state=all&sort=updated&direction=desc&per_page=100&page={page}"
        for name in world.repository_names()
        for page in range(1, pages + 1)
    ]
    run_urls = []
    for repo in world.pop.repos:
        recent = sorted(repo.pulls.values(), key=lambda p: p.updated_at, reverse=True)
        run_urls += [
            f"/repos/{repo.full_name}/commits/{pr.head_sha}/check-runs?filter=all&per_page=100"
            for pr in recent[:SHAS_PER_REPOSITORY]
        ]
    etags: dict[str, str] = {}
    phases = [
        ("list pages, cold", list_urls, 200),
        ("check-run pages, cold", run_urls, 200),
        ("list pages, 304", list_urls, 304),
        ("check-run pages, 304", run_urls, 304),
        ("list pages, warm 200", list_urls, 200),
        ("check-run pages, warm 200", run_urls, 200),
    ]
    phases += [(f"list pages after advance {cycle}", list_urls, 200) for cycle in (1, 2, 3)]
    for label, urls, expect in phases:
        if label.startswith("list pages after advance"):
            world.advance(600)
        wall, cpu = drive(app, urls, etags, expect)
        print(f"{label:<32} {len(urls):6d} requests {wall:7.0f} req/s ({cpu:6.0f}/CPU-s)", end="")
        rss, peak = status_kib("VmRSS") / 1024, status_kib("VmHWM") / 1024
        print(f"  RSS {rss:5.0f} MB, peak {peak:5.0f} MB")
    print(f"peak RSS (VmHWM): {status_kib('VmHWM') / 1024:.0f} MB")


if __name__ == "__main__":
    main()
