"""Measure fakehub serving rates (not a test): ``uv run python -m
prmon_pipeline_tests.fakehub.measure_serving_rates [--repos 100 --prs 1000 --seconds 5]``.

Reports requests/s for list pages (per_page=100), check-run pages and 304 revalidations,
through a real uvicorn server on loopback (httpx.Client, 1 and 4 threads) and in-process
(SyncASGITransport). Pages are warm (cached per world version) unless marked cold.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from starlette.applications import Starlette

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve, sync_client


def rate(fn: Callable[[int], None], seconds: float, threads: int = 1) -> float:
    counter = itertools.count()
    stop = time.monotonic() + seconds
    done = [0] * threads

    def worker(slot: int) -> None:
        while time.monotonic() < stop:
            fn(next(counter))
            done[slot] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return sum(done) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--prs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    t0 = time.monotonic()
    world = World(WorldConfig(repositories=args.repos, prs_per_repository=args.prs))
    print(f"world {args.repos}x{args.prs}: built in {time.monotonic() - t0:.1f}s")
    names = world.repository_names()
    pages = max(1, args.prs // 100)
    list_urls = [
        f"/repos/{n}/pulls?state=all&sort=updated&direction=desc&per_page=100&page={p}"
        for n in names
        for p in range(1, pages + 1)
    ]
    shas = [(n, pr["head"]["sha"]) for n in names[:20] for pr in world.pull_requests(n)[:100]]
    run_urls = [f"/repos/{n}/commits/{s}/check-runs?per_page=100" for n, s in shas]
    app = create_app(world, HubConfig(rate_limit=10**9))

    def bench(label: str, client: httpx.Client, threads: int) -> None:
        etags: dict[str, str] = {}

        def get_list(i: int) -> None:
            url = list_urls[i % len(list_urls)]
            response = client.get(url)
            etags[url] = response.headers["etag"]
            assert response.status_code == 200

        def get_runs(i: int) -> None:
            assert client.get(run_urls[i % len(run_urls)]).status_code == 200

        def revalidate(i: int) -> None:
            url = list_urls[i % len(list_urls)]
            response = client.get(url, headers={"If-None-Match": etags[url]})
            assert response.status_code == 304

        for i in range(len(list_urls)):
            get_list(i)  # warm the page cache

        def get_list_plain(i: int) -> None:
            url = list_urls[i % len(list_urls)]
            assert client.get(url, headers={"Accept-Encoding": "identity"}).status_code == 200

        results = {
            "list pages (100 PRs, warm)": rate(get_list, args.seconds, threads),
            "list pages, identity encoding": rate(get_list_plain, args.seconds, threads),
            "check-run pages": rate(get_runs, args.seconds, threads),
            "304 revalidations": rate(revalidate, args.seconds, threads),
        }
        world.advance(60)  # new version: every touched repository's pages re-render
        results["list pages (cold after advance)"] = rate(get_list, args.seconds / 2, threads)
        for what, value in results.items():
            print(f"{label:<28} {what:<34} {value:8.0f} req/s")

    with serve(app) as base_url:
        with httpx.Client(base_url=base_url) as client:
            bench("uvicorn loopback, 1 thread", client, 1)
        with httpx.Client(base_url=base_url, limits=httpx.Limits(max_connections=8)) as client:
            bench("uvicorn loopback, 4 threads", client, 4)
    with sync_client(app) as client:
        bench("ASGI in-process", client, 1)
    label = "raw ASGI (server only)"
    for what, urls in (("list pages (warm)", list_urls), ("check-run pages (warm)", run_urls)):
        raw_asgi_rate(app, urls, len(urls))  # warm
        print(f"{label:<28} {what:<34} {raw_asgi_rate(app, urls):8.0f} req/s")
    world.advance(3600)
    cold = raw_asgi_rate(app, list_urls, len(list_urls))
    print(f"{label:<28} {'list pages (after 1 h of events)':<34} {cold:8.0f} req/s")


def raw_asgi_rate(app: Starlette, urls: list[str], calls: int = 3000) -> float:
    """Server cost alone: call the ASGI app directly with a no-op ``send`` (gzip accepted)."""

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: object) -> None:
        return None

    async def run() -> float:
        started = time.perf_counter()
        for i in range(calls):
            path, _, query = urls[i % len(urls)].partition("?")
            scope = {
                "type": "http",
                "method": "GET",
                "path": path,
                "query_string": query.encode(),
                "headers": [(b"host", b"fakehub"), (b"accept-encoding", b"gzip")],
                "scheme": "http",
            }
            await app(scope, receive, send)
        return calls / (time.perf_counter() - started)

    return asyncio.run(run())


if __name__ == "__main__":
    main()
