"""fakehub's byte caches: bounded by their budgets, and invisible in what is served.

Evicted pages and items are rendered again from the world, so a server with caches too small
to hold anything must answer exactly as one that keeps everything: the same bodies, the same
ETags (a 304 stays a 304 across an eviction), the same Link headers.
"""

from __future__ import annotations

import dataclasses
import gzip
import struct
import zlib

import httpx
import orjson
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from prmon_pipeline.fakehub import HubConfig, World, create_app, sync_client
from prmon_pipeline.fakehub.item_cache import MARK, SharedMarks
from prmon_pipeline.fakehub.render import check_run_json, pr_simple
from prmon_pipeline_tests.fakehub.conftest import SMALL

TINY_PAGES = {"page_cache_bytes": 1, "page_etag_entries": 1, "page_cache_entries": 1}


def _world(item_cache_bytes: int, materialized_commits: int = 50_000) -> World:
    config = dataclasses.replace(
        SMALL, item_cache_bytes=item_cache_bytes, materialized_commits=materialized_commits
    )
    return World(config)


def _urls(world: World) -> list[str]:
    urls = []
    for name in world.repository_names():
        base = f"/repos/{name}/pulls"
        by_update = f"{base}?state=all&sort=updated&direction=desc&per_page=25"
        urls += [f"{by_update}&page={p}" for p in (1, 2, 5)]
        urls += [f"{base}?state=all&per_page=100", f"{base}?per_page=7&page=2"]
        for pr in world.pull_requests(name)[:12]:
            runs = f"/repos/{name}/commits/{pr['head']['sha']}/check-runs"
            urls += [f"{runs}?filter=all&per_page=100", f"{runs}?per_page=3&page=2"]
    return urls


def _answer(client: httpx.Client, url: str, encoding: str) -> tuple[int, bytes, str, str]:
    response = client.get(url, headers={"Accept-Encoding": encoding})
    etag = response.headers.get("etag", "").removeprefix("W/")
    return response.status_code, response.content, etag, response.headers.get("link", "")


def test_tiny_caches_serve_the_same_bytes_and_etags_as_roomy_ones() -> None:
    roomy_world, tiny_world = _world(1 << 30), _world(1, materialized_commits=1)
    roomy = create_app(roomy_world, HubConfig())
    tiny = create_app(tiny_world, HubConfig(**TINY_PAGES))  # type: ignore[arg-type]
    urls = _urls(roomy_world)
    with sync_client(roomy) as roomy_client, sync_client(tiny) as tiny_client:
        for round_ in range(2):
            for url in urls:
                for encoding in ("gzip", "identity"):
                    expected = _answer(roomy_client, url, encoding)
                    assert expected[0] == 200, url
                    assert _answer(tiny_client, url, encoding) == expected, (round_, url)
            roomy_world.advance(3600)
            tiny_world.advance(3600)
    assert tiny_world.items.evictions > 0
    assert tiny.state.hub.cache.evictions > 0
    assert any(commit.runs_dropped for commit in tiny_world.pop.commits.values())


def test_a_304_stays_a_304_after_the_page_was_evicted() -> None:
    world = _world(1)
    app: Starlette = create_app(world, HubConfig(**TINY_PAGES))  # type: ignore[arg-type]
    cache = app.state.hub.cache
    urls = _urls(world)
    with sync_client(app) as client:
        first = {url: client.get(url) for url in urls}
        evicted_before = cache.evictions
        for url, response in first.items():
            again = client.get(url, headers={"If-None-Match": response.headers["etag"]})
            assert again.status_code == 304, url
            assert again.headers["etag"] == response.headers["etag"].removeprefix("W/")
            fresh = client.get(url)
            assert fresh.content == response.content
            assert fresh.headers["etag"] == response.headers["etag"]
    assert len(cache.pages) <= 1 and len(cache.tags) <= 1
    assert cache.evictions > evicted_before


def test_pages_and_items_stay_within_their_byte_budgets() -> None:
    item_budget, page_budget = 150_000, 400_000
    world = _world(item_budget)
    config = HubConfig(page_cache_bytes=page_budget, page_etag_entries=40, page_cache_entries=3)
    app = create_app(world, config)
    pages, items = app.state.hub.cache, world.items
    with sync_client(app) as client:
        for index, url in enumerate(_urls(world) * 2):
            encoding = ("gzip", "identity")[index % 2]  # gzip and identity bodies both count
            assert client.get(url, headers={"Accept-Encoding": encoding}).status_code == 200
            assert items.used == sum(item.cost for item in items.items.values()) <= item_budget
            assert pages.used == sum(page.cost for page in pages.pages.values()) <= page_budget
            assert len(pages.tags) <= 40 and len(pages.orders) <= 3
    assert items.evictions > 0 and pages.evictions > 0  # the budgets did bind
    assert len(items.items) > 10 and len(pages.pages) > 1  # and still held something


def test_items_are_the_whole_documents_and_share_repeated_objects(world: World) -> None:
    api, web = world.cfg.api_url, world.cfg.html_url
    cost = length = 0
    for repo in world.pop.repos:
        for pr in repo.pulls.values():
            item = world.pull_request_item(pr)
            assert item.join() == orjson.dumps(pr_simple(pr, api, web))
            assert item.length == len(item.join())
            assert gzip.decompress(_gzip_of(item.segment)) == item.join()
            cost, length = cost + item.cost, length + item.length
        for commit in world.pop.commits.values():
            if commit.repo is repo and commit.runs is not None:
                for run in commit.runs:
                    assert world.run_item(run, commit).join() == orjson.dumps(
                        check_run_json(run, commit, api, web)
                    )
    assert cost < length / 2  # with its deflate segment, an item costs under half its size
    first, second = (
        world.pull_request_item(pr) for pr in list(world.pop.repos[0].pulls.values())[:2]
    )
    shared = {id(part) for part in first.parts} & {id(part) for part in second.parts}
    assert shared, "the base repository's bytes are one object in both items"


def test_an_item_whose_text_holds_the_marker_is_kept_whole(world: World) -> None:
    pr = next(iter(world.pop.repos[0].pulls.values()))
    for title in (f"{MARK}0", f"{MARK}", f"x{MARK}1 {MARK}"):
        pr.title = title
        pr.rev += 1
        item = world.pull_request_item(pr)
        assert item.join() == orjson.dumps(pr_simple(pr, world.cfg.api_url, world.cfg.html_url))


def _gzip_of(segment: bytes) -> bytes:
    """A one-item gzip body from a raw deflate segment (final empty block, CRC, length)."""
    raw = zlib.decompressobj(-zlib.MAX_WBITS).decompress(segment)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = b"\x03\x00" + struct.pack("<II", zlib.crc32(raw), len(raw))
    return header + segment + trailer


@given(st.lists(st.binary(max_size=20), max_size=6), st.lists(st.text(max_size=8), max_size=6))
def test_shared_marks_give_back_the_document(values: list[bytes], texts: list[str]) -> None:
    marks = SharedMarks()
    doc = [marks.mark(orjson.dumps(value.hex())) for value in values] + texts
    whole = orjson.dumps([value.hex() for value in values] + texts)
    split = marks.split(orjson.dumps(doc))
    if split is None:
        assert any(MARK in text for text in texts)
        return
    parts, own, length = split
    assert b"".join(parts) == whole
    assert length == len(whole)
    assert own == len(whole) - sum(len(orjson.dumps(value.hex())) for value in values)


def test_finished_check_runs_are_dropped_beyond_the_bound_and_come_back_the_same() -> None:
    world = _world(1 << 30, materialized_commits=3)
    app = create_app(world, HubConfig(**TINY_PAGES))  # type: ignore[arg-type]
    name = world.repository_names()[0]
    heads = [pr["head"]["sha"] for pr in world.pull_requests(name)[:15]]
    rerun_sha = next(
        sha for sha in heads if any(r["status"] == "completed" for r in world.check_runs(name, sha))
    )
    rerun_id = world.rerun_check_run(name, rerun_sha)["id"]
    world.advance(4000)  # the re-run finishes; its commit must keep its runs anyway
    with sync_client(app) as client:
        urls = [f"/repos/{name}/commits/{sha}/check-runs?filter=all&per_page=100" for sha in heads]
        first = {url: client.get(url) for url in urls}
        dropped = [c for c in world.pop.commits.values() if c.runs_dropped]
        assert dropped and all(c.runs is None for c in dropped)
        kept = [c for c in world.pop.commits.values() if c.runs is not None and not c.runs_dropped]
        assert sum(c.next_k == c.planned_runs and c.next_transition is None for c in kept) <= 3
        for url, response in first.items():
            tag = response.headers["etag"]
            assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
            again = client.get(url)
            assert (again.content, again.headers["etag"]) == (response.content, tag)
    assert rerun_id in {run.id for run in world.pop.commits[rerun_sha].runs or ()}
