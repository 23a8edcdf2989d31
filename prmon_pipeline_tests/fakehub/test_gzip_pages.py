"""Gzip bodies assembled from per-item deflate segments are ordinary single-member gzip."""

from __future__ import annotations

import gzip
import zlib

from prmon_pipeline.fakehub import World, WorldConfig
from prmon_pipeline.fakehub.pages import PageCache, pulls_page


def test_segmented_gzip_decodes_to_the_body() -> None:
    world = World(WorldConfig(seed=9, repositories=1, prs_per_repository=120))
    repo = world.find_repository(world.repository_names()[0])
    assert repo is not None
    cache = PageCache(64)
    for params in ({"state": "all", "per_page": "100"}, {"per_page": "1"}, {"head": "no:body"}):
        page = pulls_page(world, cache, repo, params)
        zipped = page.gzipped()
        assert gzip.decompress(zipped) == page.body
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert stream.decompress(zipped) + stream.flush() == page.body
        assert stream.eof and stream.unused_data == b""
    world.advance(3600)
    page = pulls_page(world, cache, repo, {"state": "all", "sort": "updated", "per_page": "100"})
    assert gzip.decompress(page.gzipped()) == page.body
