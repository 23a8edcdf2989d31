"""World model: determinism, content variety and evolution invariants."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from prmon_pipeline.fakehub import World, WorldConfig
from prmon_pipeline_tests.fakehub.conftest import SMALL

JSON = dict[str, Any]


def everything(world: World) -> tuple[list[JSON], list[JSON]]:
    prs: list[JSON] = []
    runs: list[JSON] = []
    for name in world.repository_names():
        for pr in world.pull_requests(name):
            prs.append(pr)
            runs.extend(world.check_runs(name, pr["head"]["sha"]))
    return prs, runs


def assert_consistent(world: World) -> None:
    prs, runs = everything(world)
    assert len({p["id"] for p in prs}) == len(prs)
    assert len({r["id"] for r in runs}) == len(runs)
    for name in world.repository_names():
        numbers = [p["number"] for p in world.pull_requests(name)]
        assert numbers == sorted(set(numbers), reverse=True)
    now = world.now
    for pr in prs:
        assert pr["state"] in ("open", "closed")
        assert pr["created_at"] <= pr["updated_at"] <= now.strftime("%Y-%m-%dT%H:%M:%SZ")
        if pr["merged_at"] is not None:
            assert pr["state"] == "closed"
            assert pr["closed_at"] == pr["merged_at"]
        if pr["state"] == "open":
            assert pr["closed_at"] is None and pr["merged_at"] is None
        else:
            assert pr["closed_at"] is not None and not pr["draft"]
        if pr["head"]["user"] is None:
            assert pr["head"]["repo"] is None and pr["head"]["label"] is None
    for run in runs:
        if run["status"] == "completed":
            assert run["conclusion"] is not None and run["completed_at"] is not None
        else:
            assert run["conclusion"] is None and run["completed_at"] is None


def test_same_seed_same_world_and_same_evolution() -> None:
    a, b = World(SMALL), World(SMALL)
    for w in (a, b):
        w.advance(1800)
        w.advance(7200)
    assert everything(a) == everything(b)
    assert a.version == b.version and a.now == b.now
    other = World(WorldConfig(seed=8, repositories=2, prs_per_repository=120))
    assert everything(other)[0] != everything(a)[0]


def test_config_knobs_shape_the_world() -> None:
    world = World(
        WorldConfig(
            seed=3,
            repositories=3,
            prs_per_repository=5,
            owner="octo",
            start=datetime(2025, 6, 1, tzinfo=UTC),
        )
    )
    assert world.now == datetime(2025, 6, 1, tzinfo=UTC)
    names = world.repository_names()
    assert len(names) == 3 and all(n.startswith("octo/") for n in names)
    assert all(len(world.pull_requests(n)) == 5 for n in names)


def test_initial_world_has_the_hard_cases(world: World) -> None:
    prs, runs = everything(world)
    bodies = [p["body"] for p in prs]
    assert any(p["id"] > 2**31 for p in prs)
    assert all(r["id"] > 2**31 for r in runs)
    assert {p["state"] for p in prs} == {"open", "closed"}
    assert any(p["merged_at"] for p in prs) and any(
        p["state"] == "closed" and not p["merged_at"] for p in prs
    )
    assert any(p["draft"] for p in prs)
    assert any(p["head"]["repo"] and p["head"]["repo"]["fork"] for p in prs)
    assert any(p["head"]["repo"] is None and p["head"]["user"] is not None for p in prs)
    assert any(p["head"]["user"] is None for p in prs)
    assert any(p["labels"] for p in prs) and any(p["assignees"] for p in prs)
    assert any(b and len(b.encode()) > 65536 for b in bodies)
    assert any(b and "\u0000" in b for b in bodies)
    assert any(b and any(ord(c) > 0xFFFF for c in b) for b in bodies)
    assert any("DROP TABLE" in p["title"] for p in prs)
    per_sha: dict[str, int] = {}
    for run in runs:
        per_sha[run["head_sha"]] = per_sha.get(run["head_sha"], 0) + 1
    assert max(per_sha.values()) > 100
    assert any(p["head"]["sha"] not in per_sha for p in prs)
    assert len({r["app"]["slug"] for r in runs}) >= 3
    assert_consistent(world)


@pytest.mark.slow
def test_evolution_keeps_invariants_and_uses_every_conclusion(world: World) -> None:
    versions = [world.version]
    for step in range(12):
        world.advance(3 * 3600)
        versions.append(world.version)
        if step % 4 == 3:
            assert_consistent(world)
    assert versions == sorted(versions) and versions[-1] > versions[0]
    world.advance(15 * 86400)  # past the stale delay
    assert_consistent(world)
    _, runs = everything(world)
    conclusions = {r["conclusion"] for r in runs}
    assert {
        "success",
        "failure",
        "neutral",
        "cancelled",
        "skipped",
        "timed_out",
        "action_required",
    } <= conclusions


def test_events_bump_updated_at_and_create_prs(world: World) -> None:
    name = world.repository_names()[0]
    before = {p["number"]: p for p in world.pull_requests(name)}
    world.advance(6 * 3600)
    after = {p["number"]: p for p in world.pull_requests(name)}
    assert len(after) > len(before)
    changed = [n for n in before if before[n] != after[n]]
    assert changed
    for number in changed:
        old, new = before[number], after[number]
        # every visible PR change moves updated_at, except the runs' own changes (none here)
        if {k: v for k, v in old.items() if k != "updated_at"} != {
            k: v for k, v in new.items() if k != "updated_at"
        }:
            assert new["updated_at"] > old["updated_at"]
    pushed = [n for n in before if before[n]["head"]["sha"] != after[n]["head"]["sha"]]
    assert pushed, "six hours of activity should contain a push"
    for number in pushed:
        old_runs = world.check_runs(name, before[number]["head"]["sha"])
        assert all(not any(pr["number"] == number for pr in r["pull_requests"]) for r in old_runs)


def test_push_starts_fresh_queued_runs_and_keeps_old_ones(world: World) -> None:
    name = world.repository_names()[0]
    pr = next(
        p
        for p in world.pull_requests(name)
        if p["state"] == "open" and p["head"]["repo"] and not p["head"]["repo"]["fork"]
    )
    old_sha = pr["head"]["sha"]
    old_runs = world.check_runs(name, old_sha)
    world.advance(60)
    for kind in ("push", "force_push"):
        pushed = world.apply_event(name, pr["number"], kind)
        assert pushed["head"]["sha"] != old_sha
        assert pushed["updated_at"] == world.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert pushed["updated_at"] > pr["updated_at"]
        runs = world.check_runs(name, pushed["head"]["sha"])
        assert all(r["status"] == "queued" and r["conclusion"] is None for r in runs)
        assert all(r["pull_requests"][0]["number"] == pr["number"] for r in runs)
    kept = world.check_runs(name, old_sha)
    assert [r["id"] for r in kept] == [r["id"] for r in old_runs]
    assert all(not r["pull_requests"] for r in kept)


def test_state_events_close_merge_reopen(world: World) -> None:
    name = world.repository_names()[0]
    opened = [p for p in world.pull_requests(name) if p["state"] == "open"]
    world.advance(30)
    closed = world.apply_event(name, opened[0]["number"], "close")
    assert closed["state"] == "closed" and closed["closed_at"] and closed["merged_at"] is None
    merged = world.apply_event(name, opened[1]["number"], "merge")
    assert merged["state"] == "closed" and merged["merged_at"] == merged["closed_at"]
    assert world.pull_request(name, opened[1]["number"])["merged"] is True
    world.advance(30)
    reopened = world.apply_event(name, opened[0]["number"], "reopen")
    assert reopened["state"] == "open" and reopened["closed_at"] is None
    assert reopened["updated_at"] > closed["updated_at"]
    with pytest.raises(ValueError, match="cannot be reopened"):
        world.apply_event(name, opened[1]["number"], "reopen")
    labelled = world.apply_event(name, opened[2]["number"], "label")
    assert labelled["labels"] != opened[2]["labels"]


def test_rerun_keeps_old_run_and_does_not_touch_the_pr(world: World) -> None:
    name = world.repository_names()[0]
    pr = next(p for p in world.pull_requests(name) if world.check_runs(name, p["head"]["sha"]))
    sha = pr["head"]["sha"]
    before = world.check_runs(name, sha)
    version = world.version
    new = world.rerun_check_run(name, sha)
    after = world.check_runs(name, sha)
    assert world.version > version
    assert len(after) == len(before) + 1
    assert after[0]["id"] == new["id"] and new["id"] > max(r["id"] for r in before)
    assert new["status"] == "queued" and new["head_sha"] == sha
    old = [r for r in after if r["name"] == new["name"] and r["id"] != new["id"]]
    assert old and all(r["status"] == "completed" for r in old)
    assert world.pull_requests(name) == [
        p if p["number"] != pr["number"] else pr for p in world.pull_requests(name)
    ]
    assert next(p for p in world.pull_requests(name) if p["number"] == pr["number"]) == pr


def test_touch_check_runs_only_changes_runs_not_prs(world: World) -> None:
    name = world.repository_names()[1]
    prs = world.pull_requests(name)
    sha = world.touch_check_runs_only(name)
    assert world.pull_requests(name) == prs
    assert any(r["status"] == "queued" for r in world.check_runs(name, sha))


def test_check_run_progress_never_bumps_updated_at(world: World) -> None:
    config = WorldConfig(seed=5, repositories=1, prs_per_repository=30, events_per_hour=0)
    quiet = World(config)
    name = quiet.repository_names()[0]
    quiet.touch_check_runs_only(name)
    prs = quiet.pull_requests(name)
    runs = {p["head"]["sha"]: quiet.check_runs(name, p["head"]["sha"]) for p in prs}
    quiet.advance(86400 * 20)
    assert quiet.pull_requests(name) == prs
    assert {p["head"]["sha"]: quiet.check_runs(name, p["head"]["sha"]) for p in prs} != runs


def test_rename_keeps_id_and_changes_urls(world: World) -> None:
    old = world.repository_names()[0]
    repo_id = world.repository(old)["id"]
    world.rename_repository(old, "renamed")
    assert "acme/renamed" in world.repository_names() and old not in world.repository_names()
    assert world.repository("ACME/Renamed")["id"] == repo_id
    assert world.pull_requests("acme/renamed")[0]["base"]["repo"]["full_name"] == "acme/renamed"
