"""Property: whatever the world does, even while pages are being walked, an incremental
discovery never misses a PR whose ``updated_at`` is after the stored watermark."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prmon_pipeline_tests.github.simulation import (
    FakeClock,
    Warehouse,
    discover,
    make_client,
    make_hub,
    small_world,
    truth_pull_requests,
)


class ShiftingTransport(httpx.AsyncBaseTransport):
    """Advances the world just before chosen list-pulls requests: pages shift mid-walk."""

    def __init__(self, inner: httpx.AsyncBaseTransport, world: Any, shifts: dict[int, int]):
        self.inner, self.world, self.shifts = inner, world, shifts
        self.pulls_requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/pulls"):
            self.pulls_requests += 1
            seconds = self.shifts.get(self.pulls_requests)
            if seconds:
                self.world.advance(seconds)
        return await self.inner.handle_async_request(request)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    prs=st.integers(0, 320),
    events_per_hour=st.floats(20.0, 500.0),
    rounds=st.lists(
        st.tuples(
            st.integers(0, 8 * 3600),  # world time between syncs (many changes: several pages)
            st.dictionaries(st.integers(1, 4), st.integers(1, 3600), max_size=3),  # mid-walk
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_incremental_never_misses_a_pr_updated_after_the_watermark(
    seed: int, prs: int, events_per_hour: float, rounds: list[tuple[int, dict[int, int]]]
) -> None:
    world = small_world(
        seed=seed, repositories=1, prs_per_repository=prs, events_per_hour=events_per_hour
    )
    clock = FakeClock()
    app = make_hub(world, clock)
    repository = world.repository_names()[0]

    async def scenario() -> None:
        warehouse = Warehouse()
        async with make_client(app, clock) as client:
            await discover(
                client, world, repository, warehouse, mode="full", check_runs_lookback=None
            )
        for between, shifts in rounds:
            world.advance(between)
            watermark = warehouse.cursors.pulls_watermark
            transport = ShiftingTransport(httpx.ASGITransport(app=app), world, shifts)
            async with make_client(app, clock, transport=transport) as client:
                result = await discover(client, world, repository, warehouse)
            truth = truth_pull_requests(world, repository).to_pylist()
            returned = {row["number"]: row for row in result.pull_requests.to_pylist()}
            for row in truth:
                if watermark is None or row["updated_at"] > watermark:
                    assert returned.get(row["number"]) == row, row["number"]
            # and the warehouse, after loading, equals the world
            assert sorted(warehouse.pull_requests.values(), key=lambda r: r["number"]) == truth

    asyncio.run(scenario())
