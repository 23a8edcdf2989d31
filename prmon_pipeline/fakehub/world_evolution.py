"""``World.advance``: PR events drawn from the world rng, then check-run transitions.

Every PR event bumps ``updated_at`` to the event time, as GitHub does for edits, label and
assignee changes, pushes, close/merge/reopen and draft toggles (GITHUB-API.md section 7);
check-run activity never touches the PR. A rare bulk event bumps every open PR of a repository
at once (like a base-branch retarget) to exercise incremental syncs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from prmon_pipeline.fakehub import checks
from prmon_pipeline.fakehub.model import PullRequest, Repository
from prmon_pipeline.fakehub.world_generation import (
    new_commit,
    new_pull_request,
    new_sha,
    title_and_body,
)

if TYPE_CHECKING:
    from prmon_pipeline.fakehub.world import World

_EVENTS = (
    ("new_pr", 8.0),
    ("edit", 10.0),
    ("label", 12.0),
    ("people", 6.0),
    ("push", 10.0),
    ("force_push", 4.0),
    ("close", 4.0),
    ("merge", 8.0),
    ("reopen", 2.0),
    ("draft", 3.0),
    ("auto_merge", 1.0),
    ("rerun", 8.0),
    ("bulk", 0.3),
)
_KINDS = tuple(k for k, _ in _EVENTS)
_WEIGHTS = tuple(w for _, w in _EVENTS)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def advance(world: World, seconds: int) -> None:
    """Apply the events of ``(now, now + seconds]`` in time order, then run transitions."""
    if seconds < 0:
        raise ValueError("time only moves forward")
    rng, cfg = world.rng, world.cfg
    start, end = world.now_epoch, world.now_epoch + seconds
    lam = cfg.events_per_hour * seconds / 3600
    events = (
        sorted(
            (rng.randint(start + 1, end), i, rng.choices(_KINDS, _WEIGHTS)[0])
            for i, _ in enumerate(world.pop.repos)
            for _ in range(_poisson(rng, lam))
        )
        if seconds > 0
        else []
    )
    for at, i, kind in events:
        _apply(world, rng, world.pop.repos[i], kind, at)
    world.now_epoch = end
    for sha, commit in list(world.active.items()):
        due = commit.next_transition is not None and commit.next_transition <= end
        if due and checks.progress(commit, end, cfg.stale_after_seconds):
            world.version += 1
            world.notify_runs(commit)
        if commit.next_transition is None:
            del world.active[sha]
            world.remember_finished(commit)


def touch(world: World, pr: PullRequest, at: int) -> None:
    """A visible PR change at ``at``: new revision, ``updated_at`` moves forward."""
    pr.updated_at = max(pr.updated_at, at)
    pr.rev += 1
    world.bump(pr.repo)
    world.notify_pull_request(pr)


def _relink(world: World, pr: PullRequest) -> None:
    """The PR's open/closed state or head changed: its head runs' ``pull_requests[]`` too."""
    commit = world.pop.commits[pr.head_sha]
    commit.pr_epoch += 1
    world.bump_commit(commit)


def _pick(rng: random.Random, repo: Repository, state: str | None) -> PullRequest | None:
    prs = list(repo.pulls.values())
    for _ in range(8):
        pr = prs[rng.randrange(len(prs))] if prs else None
        if pr is None:
            return None
        if state is None or pr.state == state:
            return pr
    return None


def _push(world: World, rng: random.Random, pr: PullRequest, at: int, force: bool) -> None:
    old = world.pop.commits[pr.head_sha]
    if pr in old.pulls:
        old.pulls.remove(pr)
        old.pr_epoch += 1
        world.bump_commit(old)
    commit = new_commit(world.pop, world.cfg, rng, pr.repo, at)
    if not pr.is_fork:
        commit.pulls.append(pr)
    pr.head_sha = commit.sha
    pr.merge_commit_sha = _sha(world)
    pr.commits = rng.randint(1, 5) if force else pr.commits + 1
    world.materialize(commit)
    touch(world, pr, at)
    world.notify_runs(commit)


def _sha(world: World) -> str:
    return new_sha(world.pop, world.cfg.seed)


def _new_pr(world: World, rng: random.Random, repo: Repository, at: int) -> None:
    pr = new_pull_request(world.pop, world.cfg, rng, repo, at)
    commit = world.pop.commits[pr.head_sha]
    commit.created_at = at
    world.materialize(commit)
    world.bump(repo)
    world.notify_pull_request(pr)
    world.notify_runs(commit)


def _bulk(world: World, rng: random.Random, repo: Repository, at: int) -> None:
    for pr in repo.pulls.values():
        if pr.state == "open":
            touch(world, pr, at)


def _reopen(world: World, rng: random.Random, repo: Repository, at: int) -> None:
    pr = _pick(rng, repo, "closed")
    if pr is not None and _reopen_pr(world, rng, pr, at):
        touch(world, pr, at)


def _reopen_pr(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    """Closed-unmerged PRs whose head still exists can be reopened (as on GitHub)."""
    if pr.state != "closed" or pr.merged_at is not None or pr.head_repo is None:
        return False
    pr.state, pr.closed_at = "open", None
    _relink(world, pr)
    return True


def _edit(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    pr.title, pr.body = title_and_body(world.cfg, rng)
    return True


def _label(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    if pr.labels and rng.random() < 0.5:
        pr.labels.pop(rng.randrange(len(pr.labels)))
        return True
    free = [lb for lb in pr.repo.labels if lb not in pr.labels]
    if free:
        pr.labels.append(rng.choice(free))
    return bool(free)


def _people(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    pr.assignees = rng.sample(world.pop.members, rng.choice((0, 1, 2)))
    pr.requested_reviewers = rng.sample(world.pop.members, rng.choice((0, 1)))
    return True


def _push_event(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    if pr.head_repo is not None:
        _push(world, rng, pr, at, force=False)
    return False


def _force_push_event(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    if pr.head_repo is not None:
        _push(world, rng, pr, at, force=True)
    return False


def _close(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    pr.state, pr.closed_at, pr.draft = "closed", at, False
    pr.auto_merge_method = None
    pr.requested_reviewers = []
    _relink(world, pr)
    return True


def _merge(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    pr.merged_at, pr.merged_by = at, rng.choice(world.pop.members)
    pr.merge_commit_sha = _sha(world)
    return _close(world, rng, pr, at)


def _draft(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    pr.draft = not pr.draft
    return True


def _auto_merge(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    methods = ("merge", "squash", "rebase")
    pr.auto_merge_method = None if pr.auto_merge_method else rng.choice(methods)
    return True


def _rerun(world: World, rng: random.Random, pr: PullRequest, at: int) -> bool:
    """A re-run touches the commit only: the PR's ``updated_at`` stays."""
    commit = world.pop.commits[pr.head_sha]
    done = [r for r in world.materialize(commit) if r.status == "completed"]
    if done and checks.rerun(commit, rng.choice(done), at, rng) is not None:
        world.active[commit.sha] = commit
        world.version += 1
        world.notify_runs(commit)
    return False


_REPO_EVENTS: dict[str, Callable[[World, random.Random, Repository, int], None]] = {
    "new_pr": _new_pr,
    "bulk": _bulk,
    "reopen": _reopen,
}
# Handlers return True when the caller should record a PR touch at the event time.
_PR_EVENTS: dict[str, Callable[[World, random.Random, PullRequest, int], bool]] = {
    "edit": _edit,
    "label": _label,
    "people": _people,
    "push": _push_event,
    "force_push": _force_push_event,
    "close": _close,
    "merge": _merge,
    "draft": _draft,
    "auto_merge": _auto_merge,
    "rerun": _rerun,
}
PR_EVENT_KINDS = (*_PR_EVENTS, "reopen")


def apply_to_pr(world: World, kind: str, pr: PullRequest) -> None:
    """Apply one named event to one PR at the current clock (for tests and demos).

    Raises ``ValueError`` when the event cannot apply (closing a closed PR, pushing to a
    deleted fork...), so a test never silently asserts on a no-op.
    """
    at = world.now_epoch
    if kind == "reopen":
        if not _reopen_pr(world, world.rng, pr, at):
            raise ValueError(f"PR #{pr.number} cannot be reopened")
        touch(world, pr, at)
        return
    handler = _PR_EVENTS.get(kind)
    if handler is None:
        raise ValueError(f"unknown event {kind!r}; one of {PR_EVENT_KINDS}")
    needs_open = kind not in ("edit", "label", "rerun")
    if (needs_open and pr.state != "open") or (kind.endswith("push") and pr.head_repo is None):
        raise ValueError(f"{kind} does not apply to PR #{pr.number} ({pr.state})")
    if handler(world, world.rng, pr, at):
        touch(world, pr, at)


def _apply(world: World, rng: random.Random, repo: Repository, kind: str, at: int) -> None:
    """One event; silently skipped when no PR fits (e.g. nothing closed to reopen)."""
    repo_event = _REPO_EVENTS.get(kind)
    if repo_event is not None:
        repo_event(world, rng, repo, at)
        return
    target = _pick(rng, repo, None if kind in ("edit", "label") else "open")
    if target is not None and _PR_EVENTS[kind](world, rng, target, at):
        touch(world, target, at)
