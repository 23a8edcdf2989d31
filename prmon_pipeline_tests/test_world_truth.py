"""The parsers agree with the world model on every PR and run a world serves (pure, no HTTP).

The convergence oracle (``world_truth.py``) is built from the model; this is the direct check of
the parsers against it, on an evolved world with hostile text added.
"""

from __future__ import annotations

import pyarrow as pa

from prmon_pipeline.core.github_json import parse_check_runs, parse_pull_requests
from prmon_pipeline.fakehub import World, WorldConfig
from prmon_pipeline_tests.world_truth import expected_check_runs, expected_pull_requests


def _evolved_world_with_a_nul_title() -> World:
    world = World(WorldConfig(seed=5, repositories=2, prs_per_repository=40, matrix_fraction=0.1))
    world.advance(2 * 86400)
    repo = world.find_repository(world.repository_names()[0])
    assert repo is not None
    pr = next(iter(repo.pulls.values()))
    pr.title, pr.body = "fix\x00 the\x00 build", "\x00"
    pr.rev += 1
    world.bump(repo)
    return world


def test_parsed_pull_requests_equal_the_model() -> None:
    world = _evolved_world_with_a_nul_title()
    for name in world.repository_names():
        parsed = parse_pull_requests(world.pull_requests(name), name).sort_by("number")
        assert parsed.equals(expected_pull_requests(world, name, stored=False)), name
    titles = expected_pull_requests(world, world.repository_names()[0], stored=True)["title"]
    assert "fix the build" in titles.to_pylist()


def test_parsed_check_runs_equal_the_model() -> None:
    world = _evolved_world_with_a_nul_title()
    for name in world.repository_names():
        tables = [
            parse_check_runs(world.check_runs(name, pr["head"]["sha"]), name, pr["number"])
            for pr in world.pull_requests(name)
        ]
        parsed = pa.concat_tables(tables).sort_by(
            [("pr_number", "ascending"), ("github_id", "ascending")]
        )
        expected = expected_check_runs(world, name)
        assert expected.num_rows > 0 and parsed.equals(expected), name
