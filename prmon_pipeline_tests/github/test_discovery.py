"""Discovery against fakehub: ground truth, increments, zero-cost no-ops, renames, single PRs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pyarrow as pa
import pytest

from prmon_pipeline.core.errors import PermissionDeniedError
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.github import discovery
from prmon_pipeline.github.discovery import COMPACT_TABLES, _Tables, discover_repository
from prmon_pipeline_tests.github.simulation import (
    FakeClock,
    Warehouse,
    discover,
    make_client,
    make_hub,
    rows_by_key,
    run_key,
    small_world,
    sort_prs,
    sort_runs,
    truth_check_runs,
    truth_pull_requests,
)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.mark.parametrize("compact_tables", [COMPACT_TABLES, 2])
def test_cold_full_discovery_equals_ground_truth(
    compact_tables: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also when small tables are compacted every two: compacting never loses or repeats rows."""
    monkeypatch.setattr(discovery, "COMPACT_TABLES", compact_tables)
    world, clock = small_world(matrix_fraction=0.05), FakeClock()
    app = make_hub(world, clock)

    async def scenario() -> None:
        async with make_client(app, clock) as client:
            for repository in world.repository_names():
                result = await discover(client, world, repository, Warehouse(), mode="full")
                assert sort_prs(result.pull_requests).equals(truth_pull_requests(world, repository))
                assert sort_runs(result.check_runs).equals(truth_check_runs(world, repository))
                assert not result.pulls_unchanged
                assert result.renamed_to is None
                assert result.stats.cost.parse_seconds > 0  # decoding and parsing were timed
                assert result.cursors.pulls_watermark == max(
                    result.pull_requests.column("updated_at").to_pylist()
                )

    run(scenario())


def test_small_tables_are_compacted_by_count_before_their_rows_add_up() -> None:
    """A SHA's few check runs are one table: a thousand of them must not wait for
    ``COMPACT_ROWS`` rows (each table costs ~15 KB of bookkeeping for ~1 KB of rows)."""
    gathered = _Tables()
    count = COMPACT_TABLES * 2 + 3
    for number in range(count):
        gathered.add(pa.table({"number": pa.array([number], pa.int64())}))
    held = gathered.tables()
    assert len(held) == 2 + 3  # two compacted tables and the three added since
    assert [t.column("number").num_chunks for t in held[:2]] == [1, 1]
    assert pa.concat_tables(held).column("number").to_pylist() == list(range(count))
    assert gathered.rows == count


def test_matrix_builds_span_several_pages() -> None:
    world, clock = small_world(matrix_fraction=0.2, prs_per_repository=30), FakeClock()
    app = make_hub(world, clock)
    repository = world.repository_names()[0]

    async def scenario() -> None:
        async with make_client(app, clock) as client:
            result = await discover(client, world, repository, Warehouse(), mode="full")
            counts = result.check_runs.group_by("pr_number").aggregate([("github_id", "count")])
            assert max(counts.column("github_id_count").to_pylist()) > 100
            assert any("\n" in v for v in result.cursors.check_run_etags.values())

    run(scenario())


def test_unchanged_repository_costs_zero_rate_limit_units() -> None:
    world, clock = small_world(matrix_fraction=0.1), FakeClock()
    app = make_hub(world, clock)
    hub = app.state.hub
    repository = world.repository_names()[0]

    async def scenario() -> None:
        warehouse = Warehouse()
        async with make_client(app, clock) as client:
            await discover(client, world, repository, warehouse, mode="full")
            before = hub.rate_limit_remaining()
            result = await discover(client, world, repository, warehouse)
            assert hub.rate_limit_remaining() == before
            assert result.pulls_unchanged
            assert result.pull_requests.num_rows == 0
            assert result.check_runs.num_rows == 0
            assert (
                result.stats.cost.requests == result.stats.cost.not_modified > 1
            )  # open PRs polled
            assert result.stats.check_run_shas == result.stats.check_run_shas_unchanged

    run(scenario())


def test_full_reconciliation_of_an_unchanged_repository_costs_only_the_pr_pages() -> None:
    world, clock = small_world(prs_per_repository=250), FakeClock()
    app = make_hub(world, clock)
    hub = app.state.hub
    repository = world.repository_names()[0]

    async def scenario() -> None:
        warehouse = Warehouse()
        async with make_client(app, clock) as client:
            await discover(client, world, repository, warehouse, mode="full")
            before = hub.rate_limit_remaining()
            result = await discover(client, world, repository, warehouse, mode="full")
        assert sort_prs(result.pull_requests).equals(truth_pull_requests(world, repository))
        assert result.stats.pull_request_pages == 3
        assert before - hub.rate_limit_remaining() == 3  # check runs: all 304 or skipped
        assert result.check_runs.num_rows == 0

    run(scenario())


@pytest.mark.slow
def test_incremental_after_advance_returns_changed_prs_and_runs() -> None:
    world, clock = small_world(events_per_hour=40.0, matrix_fraction=0.05), FakeClock()
    app = make_hub(world, clock)

    async def scenario() -> None:
        async with make_client(app, clock) as client:
            for repository in world.repository_names():
                warehouse = Warehouse()
                await discover(client, world, repository, warehouse, mode="full")
                for _ in range(4):
                    await _advance_and_check(client, world, repository, warehouse)

    run(scenario())


async def _advance_and_check(client, world, repository, warehouse):  # type: ignore[no-untyped-def]
    before_prs = dict(warehouse.pull_requests)
    before_runs = dict(warehouse.check_runs)
    watermark = warehouse.cursors.pulls_watermark
    world.advance(3 * 3600)
    result = await discover(client, world, repository, warehouse)
    truth = rows_by_key(truth_pull_requests(world, repository), lambda r: r["number"])
    changed = {n for n, row in truth.items() if before_prs.get(n) != row}
    returned = rows_by_key(result.pull_requests, lambda r: r["number"])
    assert changed <= set(returned)
    after_watermark = {n for n, row in returned.items() if row["updated_at"] > watermark}
    assert after_watermark == changed  # the rest is the overlap window, re-read on purpose
    assert all(returned[n] == truth[n] for n in returned)
    truth_runs = rows_by_key(truth_check_runs(world, repository), run_key)
    changed_runs = {k for k, row in truth_runs.items() if before_runs.get(k) != row}
    returned_runs = rows_by_key(result.check_runs, run_key)
    assert changed_runs <= set(returned_runs)
    assert all(truth_runs[k] == row for k, row in returned_runs.items())
    # The warehouse now mirrors the world exactly.
    assert {n: warehouse.pull_requests[n] for n in truth} == truth
    assert {k: warehouse.check_runs[k] for k in truth_runs} == truth_runs


def test_check_run_only_change_is_found_without_updated_at_moving() -> None:
    world, clock = small_world(), FakeClock()
    app = make_hub(world, clock)
    repository = world.repository_names()[0]

    async def scenario() -> None:
        warehouse = Warehouse()
        async with make_client(app, clock) as client:
            await discover(client, world, repository, warehouse, mode="full")
            sha = world.touch_check_runs_only(repository)
            result = await discover(client, world, repository, warehouse)
            assert result.pulls_unchanged  # the PR list did not move
            assert {r["head_sha"] for r in result.check_runs.to_pylist()} == {sha}
            truth = rows_by_key(truth_check_runs(world, repository), run_key)
            on_sha = {k: row for k, row in truth.items() if row["head_sha"] == sha}
            assert rows_by_key(result.check_runs, run_key) == on_sha  # the re-run included

    run(scenario())


def test_renamed_repository_is_followed_and_reported() -> None:
    world, clock = small_world(), FakeClock()
    app = make_hub(world, clock)
    old = world.repository_names()[0]
    owner = old.split("/")[0]

    async def scenario() -> None:
        warehouse = Warehouse()
        async with make_client(app, clock) as client:
            await discover(client, world, old, warehouse, mode="full")
            world.rename_repository(old, "renamed-widgets")
            result = await discover(client, world, old, warehouse, mode="full")
            assert result.renamed_to == f"{owner}/renamed-widgets"
            truth = truth_pull_requests(world, f"{owner}/renamed-widgets")
            assert sort_prs(result.pull_requests).equals(truth)

    run(scenario())


def test_single_pr_mode_fetches_one_pr_and_its_runs() -> None:
    world, clock = small_world(), FakeClock()
    app = make_hub(world, clock)
    repository = world.repository_names()[0]
    number = world.pull_requests(repository)[5]["number"]

    async def scenario() -> None:
        warehouse = Warehouse()
        async with make_client(app, clock) as client:
            result = await discover(
                client, world, repository, warehouse, mode="single", pr_number=number
            )
        truth = truth_pull_requests(world, repository)
        expected = truth.filter(pa.compute.equal(truth.column("number"), number))
        assert sort_prs(result.pull_requests).equals(expected)
        runs = truth_check_runs(world, repository)
        expected_runs = runs.filter(pa.compute.equal(runs.column("pr_number"), number))
        assert sort_runs(result.check_runs).equals(expected_runs)
        assert result.cursors.pulls_watermark is None  # a single PR never moves the watermark

    run(scenario())


def test_look_back_skips_check_runs_of_old_closed_prs() -> None:
    world, clock = small_world(), FakeClock()
    app = make_hub(world, clock)
    repository = world.repository_names()[0]

    async def scenario() -> None:
        async with make_client(app, clock) as client:
            result = await discover_repository(
                client,
                repository,
                SyncCursors(),
                {},
                mode="full",
                now=world.now,
                check_runs_lookback=timedelta(days=14),
            )
        window = world.now - timedelta(days=14)
        fetched = set(result.check_runs.column("pr_number").to_pylist())
        for row in result.pull_requests.to_pylist():
            if row["state"] != "open" and row["closed_at"] < window:
                assert row["number"] not in fetched
        assert result.stats.check_run_shas < result.pull_requests.num_rows

    run(scenario())


def test_unknown_repository_is_a_permission_error_without_retries() -> None:
    world, clock = small_world(), FakeClock()
    app = make_hub(world, clock)

    async def scenario() -> None:
        async with make_client(app, clock) as client:
            with pytest.raises(PermissionDeniedError, match=r"^acme/nope: GET /repos/acme/nope"):
                await discover(client, world, "acme/nope", Warehouse())
            assert client.counters.requests == 1
            assert client.counters.retries == 0

    run(scenario())
