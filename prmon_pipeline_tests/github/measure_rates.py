"""Measure parse speed and client request rates: ``uv run python -m
prmon_pipeline_tests.github.measure_rates`` (not a test: prints figures for the README)."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import httpx
import orjson

from prmon_pipeline.core.discovery_plan import known_pull_requests_from_arrow
from prmon_pipeline.core.github_json import parse_check_runs, parse_pull_requests
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.github.discovery import DiscoveryResult, discover_repository
from prmon_pipeline_tests.core.corpus import corpus_json

ITEMS = 100_000
PAGE = 100


def synthesized_pages(template: list[dict[str, Any]], key: str) -> list[bytes]:
    """ITEMS items cloned from real recorded ones, ids made unique, as 100-item JSON pages."""
    pages, items = [], []
    for index in range(ITEMS):
        item = copy.deepcopy(template[index % len(template)])
        item["id"] = 3_000_000_000 + index
        if key == "pulls":
            item["number"] = index + 1
        items.append(item)
        if len(items) == PAGE:
            body: Any = items if key == "pulls" else {"total_count": PAGE, "check_runs": items}
            pages.append(orjson.dumps(body))
            items = []
    return pages


def measure_parsing() -> None:
    pr_pages = synthesized_pages(corpus_json("pulls/curated-pr-list-items.json"), "pulls")
    run_pages = synthesized_pages(corpus_json("checks/curated-check-runs.json"), "runs")
    megabytes = sum(map(len, pr_pages)) / 1e6
    start = time.perf_counter()
    rows = sum(parse_pull_requests(page, "acme/x").num_rows for page in pr_pages)
    elapsed = time.perf_counter() - start
    print(
        f"PR items: {rows} in {elapsed:.2f} s = {rows / elapsed:,.0f}/s ({megabytes:.0f} MB JSON)"
    )
    start = time.perf_counter()
    decode = sum(len(orjson.loads(page)) for page in pr_pages)
    print(f"  of which orjson decode alone: {time.perf_counter() - start:.2f} s ({decode})")
    megabytes = sum(map(len, run_pages)) / 1e6
    start = time.perf_counter()
    rows = sum(parse_check_runs(page, "acme/x", 1).num_rows for page in run_pages)
    elapsed = time.perf_counter() - start
    print(f"check runs: {rows} in {elapsed:.2f} s = {rows / elapsed:,.0f}/s ({megabytes:.0f} MB)")


async def discoveries(
    client: GitHubClient, world: World, previous: list[DiscoveryResult] | None
) -> tuple[list[DiscoveryResult], float]:
    """Full discoveries of every repository, or no-op incrementals after ``previous``."""
    start = time.perf_counter()
    runs = []
    for index, name in enumerate(world.repository_names()):
        if previous is None:
            runs.append(
                discover_repository(
                    client,
                    name,
                    SyncCursors(),
                    {},
                    mode="full",
                    now=world.now,
                    check_runs_lookback=None,
                )
            )
        else:
            last = previous[index]
            known = known_pull_requests_from_arrow(last.pull_requests, last.check_runs)
            runs.append(
                discover_repository(
                    client, name, last.cursors, known, now=world.now, check_runs_lookback=None
                )
            )
    results = list(await asyncio.gather(*runs))
    return results, time.perf_counter() - start


def measure_client() -> None:
    world = World(WorldConfig(seed=1, repositories=4, prs_per_repository=500))
    app = create_app(world, HubConfig(rate_limit=1_000_000))

    async def over(transport: httpx.AsyncBaseTransport | None, url: str, label: str) -> None:
        config = GitHubConfig(api_url=url, max_concurrency=8)
        async with GitHubClient(config, transport=transport) as client:
            full, elapsed = await discoveries(client, world, None)
            requests = sum(r.stats.cost.requests for r in full)
            print(
                f"{label} full: {requests} requests in {elapsed:.2f} s = "
                f"{requests / elapsed:,.0f}/s"
            )
            again, elapsed = await discoveries(client, world, full)
            requests = sum(r.stats.cost.requests for r in again)
            not_modified = sum(r.stats.cost.not_modified for r in again)
            print(
                f"{label} unchanged incremental: {requests} requests ({not_modified} 304) "
                f"in {elapsed:.2f} s = {requests / elapsed:,.0f}/s"
            )

    asyncio.run(over(httpx.ASGITransport(app=app), "http://fakehub", "ASGI"))
    with serve(app) as base_url:
        asyncio.run(over(None, base_url, "loopback"))


if __name__ == "__main__":
    measure_parsing()
    measure_client()
