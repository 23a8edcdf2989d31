"""Check-run plans and life cycle: queued -> in_progress -> completed, re-runs, stale.

A commit's runs are planned from ``random.Random(f"{seed}/{serial}")`` so the plan is the
same whether the commit is materialised at world creation, on the first request for it, or
during an ``advance``; transitions are then applied up to the world clock. Runs that never
start turn ``completed``/``stale`` after the stale delay, as GitHub does after 14 days
(https://developer.github.com/changes/2020-02-03-stale-conclusion/).
"""

from __future__ import annotations

import random

from prmon_pipeline.fakehub.model import App, CheckRun, Commit

CONCLUSIONS = (
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "startup_failure",
)
_WEIGHTS = (70, 10, 3, 4, 6, 2, 2, 1)
RUN_ID_BASE = 30_000_000_000
SUITE_ID_BASE = 9_000_000_000
RUNS_PER_COMMIT_CAP = 4096
_MATRIX_OS = ("ubuntu-latest", "macos-14", "windows-2022", "ubuntu-24.04-arm")
_MATRIX_PY = ("3.9", "3.10", "3.11", "3.12", "3.13", "pypy-3.10")


def run_id(commit: Commit, k: int) -> int:
    """Ids grow with ``k`` inside a commit (newest first = id desc) and never collide."""
    return RUN_ID_BASE + commit.serial * RUNS_PER_COMMIT_CAP + k


def suite_id(commit: Commit, app: App) -> int:
    """One check suite per (commit, app), as GitHub creates them."""
    return SUITE_ID_BASE + commit.serial * 16 + app.id % 16


def _names(rng: random.Random, n: int, matrix: bool, apps: list[App]) -> list[tuple[str, App]]:
    actions = apps[0]
    if matrix:
        out = []
        for i in range(n):
            os_name = _MATRIX_OS[i % len(_MATRIX_OS)]
            py = _MATRIX_PY[(i // len(_MATRIX_OS)) % len(_MATRIX_PY)]
            shard = i // (len(_MATRIX_OS) * len(_MATRIX_PY))
            out.append((f"test ({os_name}, {py}, shard {shard})", actions))
        return out
    fixed = [
        ("lint", actions),
        ("typecheck", actions),
        ("build (ubuntu-latest)", actions),
        ("ci/circleci: unit", apps[1]),
        ("codecov/patch", apps[2]),
        ("prmon-policy ✅", apps[3]),
    ]
    out = fixed[:n]
    i = 0
    while len(out) < n:
        out.append((f"test (shard {i})", apps[rng.randrange(len(apps))]))
        i += 1
    return out


def new_run(commit: Commit, name: str, app: App, queued_at: int, rng: random.Random) -> CheckRun:
    """A queued run with its whole future drawn now (so advance order cannot change it)."""
    k = commit.next_k
    commit.next_k += 1
    conclusion = rng.choices(CONCLUSIONS, _WEIGHTS)[0]
    stuck = rng.random() < 0.01
    start_at: int | None = None if stuck else queued_at + rng.randint(1, 180)
    complete_at: int | None = None
    if start_at is not None:
        complete_at = start_at + rng.randint(15, 1500)
        if conclusion == "skipped":
            complete_at = start_at
    return CheckRun(
        id=run_id(commit, k),
        name=name,
        app=app,
        suite_id=suite_id(commit, app),
        head_sha=commit.sha,
        queued_at=queued_at,
        start_at=start_at,
        complete_at=complete_at,
        planned_conclusion=conclusion,
        started_at=queued_at,
        annotations_count=rng.randint(1, 12) if conclusion == "failure" else 0,
    )


def materialize(commit: Commit, seed: int, apps: list[App], now: int, stale_after: int) -> bool:
    """Build a commit's planned runs and bring them to ``now``; True if any is unfinished."""
    if commit.runs is not None:
        return commit.next_transition is not None
    rng = random.Random(f"{seed}/{commit.serial}")
    commit.runs = []
    for name, app in _names(rng, commit.planned_runs, commit.matrix, apps):
        commit.runs.append(new_run(commit, name, app, commit.created_at + rng.randint(0, 20), rng))
    progress(commit, now, stale_after)
    return commit.next_transition is not None


def progress(commit: Commit, now: int, stale_after: int) -> bool:
    """Apply every transition due by ``now``; returns whether anything visible changed.

    ``completed_at`` may end up before ``started_at`` for ``skipped`` runs created in the
    same second; GitHub allows inverted timestamps too, so nothing here forbids it.
    """
    assert commit.runs is not None
    changed = False
    upcoming: int | None = None
    for run in commit.runs:
        if run.status == "completed":
            continue
        if run.start_at is None:
            stale_at = run.queued_at + stale_after
            if now >= stale_at:
                run.status, run.conclusion, run.completed_at = "completed", "stale", stale_at
                run.rev += 1
                changed = True
            else:
                upcoming = stale_at if upcoming is None else min(upcoming, stale_at)
            continue
        assert run.complete_at is not None
        if run.status == "queued" and now >= run.start_at and run.complete_at > run.start_at:
            run.status, run.started_at = "in_progress", run.start_at
            run.rev += 1
            changed = True
        if now >= run.complete_at:
            run.status, run.conclusion = "completed", run.planned_conclusion
            run.completed_at = run.complete_at
            if run.planned_conclusion == "skipped":
                run.started_at = run.complete_at
            run.rev += 1
            changed = True
            continue
        nxt = run.start_at if run.status == "queued" else run.complete_at
        upcoming = nxt if upcoming is None else min(upcoming, nxt)
    commit.next_transition = upcoming
    if changed:
        commit.version += 1
    return changed


def rerun(commit: Commit, old: CheckRun, now: int, rng: random.Random) -> CheckRun | None:
    """Re-run a completed run: a NEW run (new id, same name and head_sha); the old one stays."""
    assert commit.runs is not None
    if old.status != "completed" or commit.next_k >= RUNS_PER_COMMIT_CAP:
        return None
    run = new_run(commit, old.name, old.app, now, rng)
    commit.runs.append(run)
    commit.version += 1
    if commit.next_transition is None or commit.next_transition > now:
        commit.next_transition = now
    return run
