"""Mutable entities of the simulated GitHub world.

Timestamps are integer UTC epoch seconds: GitHub serialises every timestamp at second
resolution, and integers make the per-request sort and filter work cheap. Each entity carries
a ``rev`` counter that rendering caches key on, so a mutation invalidates exactly the JSON it
changes (see ``render.py``); the rendered bytes live in ``item_cache.ItemCache``, under a
byte budget, not on the entities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class User:
    """A GitHub account (``simple-user``); organisations are users with ``type`` Organization."""

    login: str
    id: int
    type: str = "User"
    json: dict[str, Any] | None = None


@dataclass(slots=True, eq=False)
class Label:
    """A repository label as embedded in PR ``labels[]``."""

    id: int
    name: str
    description: str | None
    color: str
    default: bool


@dataclass(slots=True, eq=False)
class App:
    """A GitHub App that creates check runs (GitHub Actions, a CI vendor, a custom app)."""

    id: int
    slug: str
    name: str
    json: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Repository:
    """A base repository (served) or a fork (only ever embedded as ``head.repo``)."""

    id: int
    name: str
    owner: User
    created_at: int
    pushed_at: int
    description: str | None
    fork: bool = False
    archived: bool = False
    open_issues_count: int = 0
    forks_count: int = 0
    rev: int = 0
    version: int = 0
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    json: dict[str, Any] | None = None
    json_rev: int = -1

    @property
    def full_name(self) -> str:
        """``owner/name`` as GitHub spells it (case preserved)."""
        return f"{self.owner.login}/{self.name}"


@dataclass(slots=True, eq=False)
class PullRequest:
    """One pull request; ``state`` is ``open``/``closed``, merged = closed with ``merged_at``."""

    repo: Repository
    number: int
    id: int
    title: str
    body: str | None
    user: User
    state: str
    draft: bool
    created_at: int
    updated_at: int
    closed_at: int | None
    merged_at: int | None
    merge_commit_sha: str | None
    merged_by: User | None
    head_ref: str
    head_sha: str
    head_repo: Repository | None
    head_user: User | None
    base_ref: str
    base_sha: str
    author_association: str
    labels: list[Label] = field(default_factory=list)
    assignees: list[User] = field(default_factory=list)
    requested_reviewers: list[User] = field(default_factory=list)
    auto_merge_method: str | None = None
    locked: bool = False
    active_lock_reason: str | None = None
    comments: int = 0
    review_comments: int = 0
    commits: int = 1
    additions: int = 0
    deletions: int = 0
    changed_files: int = 0
    head_label_gone: bool = False
    rev: int = 0

    @property
    def is_fork(self) -> bool:
        """True when the head lives in another repository (or lived in a deleted one)."""
        return self.head_repo is not self.repo


@dataclass(slots=True, eq=False)
class CheckRun:
    """One check run with its planned life cycle.

    ``start_at``/``complete_at`` are the simulated times at which the run will move on;
    ``None`` for ``start_at`` means it never starts and turns ``stale`` after the stale delay.
    """

    id: int
    name: str
    app: App
    suite_id: int
    head_sha: str
    queued_at: int
    start_at: int | None
    complete_at: int | None
    planned_conclusion: str
    status: str = "queued"
    conclusion: str | None = None
    started_at: int | None = None
    completed_at: int | None = None
    annotations_count: int = 0
    rev: int = 0


@dataclass(slots=True, eq=False)
class Commit:
    """A commit that check runs attach to; runs are materialised lazily from its own seed.

    Lazy materialisation keeps a 100 x 1,000-PR world small: only commits somebody asks
    about (or that are still running) hold run objects. The run plan depends only on the
    world seed and ``serial``, so it is the same whenever it is built; that is also why the
    world may drop the runs of a finished commit that was never re-run (``runs_dropped``) and
    build them again, identical, when somebody asks.
    """

    sha: str
    serial: int
    repo: Repository
    created_at: int
    planned_runs: int
    matrix: bool
    runs: list[CheckRun] | None = None
    next_k: int = 0
    next_transition: int | None = None
    version: int = 0
    pr_epoch: int = 0
    pulls: list[PullRequest] = field(default_factory=list)
    runs_dropped: bool = False
