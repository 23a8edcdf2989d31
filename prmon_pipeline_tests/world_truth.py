"""Expected rows built from fakehub's world model, never from the JSON parsers under test.

The convergence tests compare what the pipeline stored (or discovered) with these tables. They
are read from the simulator's entities (``PullRequest``, ``CheckRun``) field by field, so a bug in
``core/github_json.py`` shows up as a difference instead of being copied into both sides. The
only values taken from the served JSON are the ones the model does not hold because the renderer
invents them (a run's ``details_url`` and output text), read by plain key lookup.

The documented canonical forms are applied here independently: ``state`` is ``merged`` for a
closed PR with ``merged_at``; labels and assignees are sorted; NUL characters are removed from
text; and, for the warehouse, an empty body is NULL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.fakehub import World
from prmon_pipeline.fakehub.model import CheckRun, PullRequest, Repository


def _text(value: str | None) -> str | None:
    """Text as the pipeline keeps it: PostgreSQL ``text`` cannot hold NUL, so it is removed."""
    return None if value is None else value.replace("\x00", "")


def _time(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _repository(world: World, repository: str) -> Repository:
    found = world.find_repository(repository)
    if found is None:
        raise KeyError(repository)
    return found


def pull_request_row(world: World, pr: PullRequest, *, stored: bool) -> dict[str, Any]:
    """One PR as a ``PULL_REQUEST_SCHEMA`` row; ``stored``: with the warehouse's empty body."""
    body = _text(pr.body)
    return {
        "number": pr.number,
        "github_id": pr.id,
        "title": _text(pr.title),
        "body": None if stored and body == "" else body,
        "state": "merged" if pr.state == "closed" and pr.merged_at is not None else pr.state,
        "draft": pr.draft,
        "author_login": _text(pr.user.login),
        "base_ref": _text(pr.base_ref),
        "base_sha": pr.base_sha,
        "head_ref": _text(pr.head_ref),
        "head_sha": pr.head_sha,
        "head_repo_full_name": None if pr.head_repo is None else pr.head_repo.full_name,
        "labels": sorted(_text(label.name) for label in pr.labels),
        "assignees": sorted(_text(user.login) for user in pr.assignees),
        "html_url": f"{world.cfg.html_url}/{pr.repo.full_name}/pull/{pr.number}",
        "created_at": _time(pr.created_at),
        "updated_at": _time(pr.updated_at),
        "closed_at": _time(pr.closed_at),
        "merged_at": _time(pr.merged_at),
    }


def check_run_row(pr_number: int, run: CheckRun, served: dict[str, Any]) -> dict[str, Any]:
    """One run on one PR as a ``CHECK_RUN_SCHEMA`` row (``served``: the run's JSON object)."""
    return {
        "pr_number": pr_number,
        "github_id": run.id,
        "head_sha": run.head_sha,
        "name": _text(run.name),
        "status": run.status,
        "conclusion": run.conclusion,
        "app_slug": run.app.slug,
        "details_url": _text(served["details_url"]),
        "started_at": _time(run.started_at),
        "completed_at": _time(run.completed_at),
        "output_title": _text(served["output"]["title"]),
        "output_summary": _text(served["output"]["summary"]),
    }


def expected_pull_requests(world: World, repository: str, *, stored: bool) -> pa.Table:
    """Every PR of the repository now, by number; ``stored``: as the warehouse holds them."""
    with world.lock:
        pulls = sorted(_repository(world, repository).pulls.values(), key=lambda p: p.number)
        rows = [pull_request_row(world, pr, stored=stored) for pr in pulls]
    return pa.Table.from_pylist(rows, schema=PULL_REQUEST_SCHEMA)


def expected_check_runs(world: World, repository: str) -> pa.Table:
    """Every run on every PR's current head commit, one row per (PR, run), by (PR, run id)."""
    rows: list[dict[str, Any]] = []
    with world.lock:
        repo = _repository(world, repository)
        for pr in repo.pulls.values():
            commit = world.commit(repo, pr.head_sha)
            if commit is None:  # a head outside the repository: GitHub lists no runs there
                continue
            served = {doc["id"]: doc for doc in world.check_runs(repository, pr.head_sha)}
            rows.extend(check_run_row(pr.number, run, served[run.id]) for run in commit.runs or ())
    rows.sort(key=lambda row: (row["pr_number"], row["github_id"]))
    return pa.Table.from_pylist(rows, schema=CHECK_RUN_SCHEMA)
