"""The simulated GitHub world: the ground truth the server renders and tests compare to.

All reads and writes take one re-entrant lock, because a test thread may ``advance`` while the
server thread renders a page; the version counters (world, repository, commit) change on every
visible mutation and key the page caches in ``pages.py``.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from prmon_pipeline.fakehub import checks
from prmon_pipeline.fakehub.config import WorldConfig
from prmon_pipeline.fakehub.item_cache import ItemCache, Rendered
from prmon_pipeline.fakehub.model import CheckRun, Commit, PullRequest, Repository, User
from prmon_pipeline.fakehub.render import check_run_item, pr_full, pr_simple_item
from prmon_pipeline.fakehub.render_repository import full_repo_json
from prmon_pipeline.fakehub.world_evolution import advance as evolve
from prmon_pipeline.fakehub.world_evolution import apply_to_pr
from prmon_pipeline.fakehub.world_generation import (
    Population,
    generate,
    world_repository_base_id,
)

JSON = dict[str, Any]


def _droppable(commit: Commit) -> bool:
    """Nothing left to happen to the runs and no re-run added to the seeded plan."""
    return commit.next_transition is None and commit.next_k == commit.planned_runs


class WorldListener(Protocol):
    """Told of every visible change as it happens, under the world lock (webhook senders).

    ``pull_request_changed`` follows each PR event (a new PR included) with the PR already
    changed; ``runs_changed`` follows new runs and status transitions of a commit;
    ``repository_changed`` names GitHub's ``repository`` action (``renamed``, ``archived``...;
    ``transferred`` also names the previous owner).
    """

    def pull_request_changed(self, pr: PullRequest) -> None: ...

    def runs_changed(self, commit: Commit) -> None: ...

    def repository_changed(
        self, repo: Repository, action: str, changes: JSON, previous_owner: User | None = None
    ) -> None: ...


class World:
    """N repositories x M pull requests with check runs, evolving with :meth:`advance`."""

    def __init__(self, cfg: WorldConfig) -> None:
        self.cfg = cfg
        self.lock = threading.RLock()
        self.version = 0
        self.pop: Population
        self.rng: random.Random
        self.pop, self.rng = generate(cfg)
        self.now_epoch = int(cfg.start.timestamp())
        self.active: dict[str, Commit] = {}
        self.items = ItemCache(cfg.item_cache_bytes)
        self.finished: OrderedDict[Commit, None] = OrderedDict()
        self._by_name: dict[str, Repository] = {r.full_name.lower(): r for r in self.pop.repos}
        self._by_id: dict[int, Repository] = {r.id: r for r in self.pop.repos}
        self._moved: dict[str, int] = {}
        self._repositories_created = len(self.pop.repos)
        self.listeners: list[WorldListener] = []
        recent = self.now_epoch - cfg.stale_after_seconds - 7200
        for commit in self.pop.commits.values():
            if commit.created_at >= recent:
                self.materialize(commit)

    @property
    def now(self) -> datetime:
        """The simulated clock (UTC); only :meth:`advance` moves it."""
        return datetime.fromtimestamp(self.now_epoch, UTC)

    # -- lookups -----------------------------------------------------------------------

    def repository_names(self) -> list[str]:
        """Current ``owner/name`` of every served repository."""
        with self.lock:
            return [r.full_name for r in self.pop.repos]

    def find_repository(self, full_name: str) -> Repository | None:
        """Case-insensitive lookup by current name (GitHub matches names case-insensitively)."""
        return self._by_name.get(full_name.lower())

    def moved_repository_id(self, full_name: str) -> int | None:
        """Id of the repository that used to be called ``full_name`` (for the 301)."""
        return self._moved.get(full_name.lower())

    def account(self, login: str | None = None, ident: int | None = None) -> User | None:
        """The organisation or a user, by login (case-insensitive) or by id."""
        for user in (self.pop.owner, *self.pop.users):
            if user.id == ident or (login is not None and user.login.lower() == login.lower()):
                return user
        return None

    def owned_repositories(self, owner: User) -> list[Repository]:
        """Every repository the account owns: the served ones, or a user's forks."""
        with self.lock:
            served = [r for r in self.pop.repos if r.owner is owner]
            forks = [r for r in self.pop.forks.values() if r.owner is owner]
            return served + forks

    def repository_by_id(self, repo_id: int) -> Repository | None:
        """The ``/repositories/{id}`` alias lookup."""
        return self._by_id.get(repo_id)

    def _repo(self, full_name: str) -> Repository:
        repo = self.find_repository(full_name)
        if repo is None:
            raise KeyError(full_name)
        return repo

    def commit(self, repo: Repository, ref: str) -> Commit | None:
        """A commit by SHA, or by ``heads/BRANCH``/branch name of an open same-repo PR."""
        found = self.pop.commits.get(ref.lower())
        if found is not None:
            return found if found.repo is repo else None
        branch = ref.removeprefix("refs/").removeprefix("heads/")
        for pr in reversed(list(repo.pulls.values())):
            if pr.head_ref == branch and not pr.is_fork and pr.state == "open":
                return self.pop.commits[pr.head_sha]
        return None

    def materialize(self, commit: Commit) -> list[CheckRun]:
        """The commit's runs, built on first use; unfinished commits join the active set.

        Finished commits that were never re-run are remembered in use order, and beyond
        ``materialized_commits`` the least recently used drop their runs (see :meth:`_drop`).
        """
        if commit.runs is None:
            version = commit.version
            if checks.materialize(
                commit, self.cfg.seed, self.pop.apps, self.now_epoch, self.cfg.stale_after_seconds
            ):
                self.active[commit.sha] = commit
            if commit.runs_dropped:  # the same runs as before they were dropped
                commit.version, commit.runs_dropped = version, False
        assert commit.runs is not None
        self.remember_finished(commit)
        return commit.runs

    def remember_finished(self, commit: Commit) -> None:
        """Mark a droppable commit as just used; drop the least recently used beyond the bound."""
        if _droppable(commit):
            self.finished[commit] = None
            self.finished.move_to_end(commit)
            while len(self.finished) > self.cfg.materialized_commits:
                self._drop(self.finished.popitem(last=False)[0])

    def _drop(self, commit: Commit) -> None:
        """Forget a finished commit's runs and their rendered bytes.

        Only if every run is completed and none was re-run: then :func:`checks.materialize`
        builds the same runs (ids, plans, final states) from the seed at any later time.
        """
        if commit.runs is None or not _droppable(commit) or commit.sha in self.active:
            return
        for run in commit.runs:
            self.items.discard(run)
        commit.runs, commit.next_k, commit.runs_dropped = None, 0, True

    # -- ground truth --------------------------------------------------------------------

    def pull_request_item(self, pr: PullRequest) -> Rendered:
        """``pr`` rendered as a ``GET /pulls`` list item (from the item cache when current)."""
        return pr_simple_item(pr, self.cfg.api_url, self.cfg.html_url, self.items)

    def pull_request_bytes(self, pr: PullRequest) -> bytes:
        """The exact bytes of ``pr`` as a ``GET /pulls`` list item."""
        return self.pull_request_item(pr).join()

    def pull_requests(self, full_name: str) -> list[JSON]:
        """Every PR of the repository (any state), number descending, as the list serves it."""
        with self.lock:
            repo = self._repo(full_name)
            return [orjson.loads(self.pull_request_bytes(p)) for p in reversed(repo.pulls.values())]

    def pull_request(self, full_name: str, number: int) -> JSON:
        """One PR in the single-GET ``pull-request`` shape."""
        with self.lock:
            pr = self._repo(full_name).pulls[number]
            return pr_full(pr, self.cfg.api_url, self.cfg.html_url)

    def repository(self, full_name: str) -> JSON:
        """``GET /repos/{o}/{r}`` body."""
        with self.lock:
            return full_repo_json(self._repo(full_name), self.cfg.api_url, self.cfg.html_url)

    def run_item(self, run: CheckRun, commit: Commit) -> Rendered:
        """One run rendered as served (from the item cache when current)."""
        return check_run_item(run, commit, self.cfg.api_url, self.cfg.html_url, self.items)

    def run_bytes(self, run: CheckRun, commit: Commit) -> bytes:
        """The exact bytes of one run as served."""
        return self.run_item(run, commit).join()

    def sorted_runs(self, commit: Commit) -> list[CheckRun]:
        """All runs of a commit, newest first (descending id, as GitHub orders them)."""
        return sorted(self.materialize(commit), key=lambda r: r.id, reverse=True)

    def check_runs(self, full_name: str, head_sha: str) -> list[JSON]:
        """All runs on ``head_sha`` (``filter=all``), newest first, as served."""
        with self.lock:
            commit = self.commit(self._repo(full_name), head_sha)
            if commit is None:
                return []
            return [orjson.loads(self.run_bytes(r, commit)) for r in self.sorted_runs(commit)]

    # -- mutations -----------------------------------------------------------------------

    def notify_pull_request(self, pr: PullRequest) -> None:
        """Tell the listeners that ``pr`` changed (or was opened) just now."""
        for listener in self.listeners:
            listener.pull_request_changed(pr)

    def notify_runs(self, commit: Commit) -> None:
        """Tell the listeners that ``commit``'s runs were created or moved on."""
        for listener in self.listeners:
            listener.runs_changed(commit)

    def notify_repository(
        self, repo: Repository, action: str, changes: JSON, previous_owner: User | None = None
    ) -> None:
        """Tell the listeners of a repository event (GitHub's ``repository`` action)."""
        for listener in self.listeners:
            listener.repository_changed(repo, action, changes, previous_owner)

    def bump(self, repo: Repository) -> None:
        """Record a visible change in ``repo`` (invalidates its cached pages)."""
        repo.version += 1
        self.version += 1

    def bump_commit(self, commit: Commit) -> None:
        """Record a change of a commit's runs or of its PR links."""
        commit.version += 1
        self.version += 1

    def advance(self, seconds: float) -> None:
        """Move the clock and apply the PR events and check-run transitions due meanwhile."""
        with self.lock:
            evolve(self, int(seconds))

    def apply_event(self, full_name: str, number: int, kind: str) -> JSON:
        """Apply one PR event now (``edit``, ``label``, ``people``, ``push``, ``force_push``,
        ``close``, ``merge``, ``reopen``, ``draft``, ``auto_merge``, ``rerun``); returns the
        PR as the list serves it afterwards. PR events bump ``updated_at`` to :attr:`now`;
        ``rerun`` touches only the head commit's runs.
        """
        with self.lock:
            pr = self._repo(full_name).pulls[number]
            apply_to_pr(self, kind, pr)
            doc: JSON = orjson.loads(self.pull_request_bytes(pr))
            return doc

    def delete_pull_request(self, full_name: str, number: int) -> None:
        """Remove a PR, as GitHub Support does for spam: it vanishes from every list.

        Only a full reconciliation can notice this (nothing is updated, nothing bumps), which is
        exactly what the sync's soft delete is for.
        """
        with self.lock:
            repo = self._repo(full_name)
            del repo.pulls[number]
            self.bump(repo)

    def rename_repository(self, old_full_name: str, new_name: str) -> None:
        """Rename; the old ``owner/name`` then answers ``301`` to ``/repositories/{id}``."""
        with self.lock:
            repo = self._repo(old_full_name)
            old_name = repo.name
            self._rekey(repo, new_name, repo.owner)
            self.notify_repository(repo, "renamed", {"repository": {"name": {"from": old_name}}})

    def _rekey(self, repo: Repository, name: str, owner: User) -> None:
        """A new ``owner/name``: the old one is remembered for the ``301``."""
        del self._by_name[repo.full_name.lower()]
        self._moved[repo.full_name.lower()] = repo.id
        repo.name, repo.owner = name, owner
        repo.rev += 1
        self._by_name[repo.full_name.lower()] = repo
        self._moved.pop(repo.full_name.lower(), None)
        self.bump(repo)

    def transfer_repository(self, full_name: str, new_owner: str) -> None:
        """Transfer to another account (an organisation or a user) under the same name; the
        old ``owner/name`` then answers ``301`` to ``/repositories/{id}``, as after a rename."""
        with self.lock:
            repo = self._repo(full_name)
            account = self.account(new_owner)
            if account is None:
                raise KeyError(new_owner)
            previous = repo.owner
            self._rekey(repo, repo.name, account)
            self.notify_repository(repo, "transferred", {}, previous)

    def create_repository(self, name: str, *, fork: bool = False, archived: bool = False) -> JSON:
        """A new repository of the organisation (no PRs yet), e.g. a fork the org keeps.

        Returns ``GET /repos/{o}/{r}``'s body. It is served at once and listed by
        ``GET /orgs/{org}/repos``.
        """
        with self.lock:
            if self.find_repository(f"{self.pop.owner.login}/{name}") is not None:
                raise ValueError(f"{self.pop.owner.login}/{name} exists")
            index = self._repositories_created
            self._repositories_created += 1
            repo = Repository(
                id=world_repository_base_id(self.cfg) + index * 1013,
                name=name,
                owner=self.pop.owner,
                created_at=self.now_epoch,
                pushed_at=self.now_epoch,
                description=None,
                fork=fork,
                archived=archived,
            )
            self.pop.repos.append(repo)
            self._by_name[repo.full_name.lower()] = repo
            self._by_id[repo.id] = repo
            self.bump(repo)
            self.notify_repository(repo, "created", {})
            return self.repository(repo.full_name)

    def archive_repository(self, full_name: str, archived: bool = True) -> None:
        """Archive (or unarchive) a repository: still served, flagged ``archived`` everywhere."""
        with self.lock:
            repo = self._repo(full_name)
            repo.archived = archived
            repo.rev += 1
            self.bump(repo)
            self.notify_repository(repo, "archived" if archived else "unarchived", {})

    def delete_repository(self, full_name: str) -> None:
        """Delete a repository: 404 by name and by id, gone from its owner's listing."""
        with self.lock:
            repo = self._repo(full_name)
            self.pop.repos.remove(repo)
            del self._by_name[repo.full_name.lower()]
            del self._by_id[repo.id]
            self.version += 1
            self.notify_repository(repo, "deleted", {})

    def rerun_check_run(self, full_name: str, head_sha: str, name: str | None = None) -> JSON:
        """Re-run a completed run on ``head_sha`` (by name, else the newest completed one).

        Returns the new run; the PR's ``updated_at`` does not move (checks belong to commits).
        """
        with self.lock:
            commit = self.commit(self._repo(full_name), head_sha)
            if commit is None:
                raise KeyError(head_sha)
            for old in self.sorted_runs(commit):
                if old.status == "completed" and (name is None or old.name == name):
                    run = checks.rerun(commit, old, self.now_epoch, self.rng)
                    if run is not None:
                        self.active[commit.sha] = commit
                        self.version += 1
                        self.notify_runs(commit)
                        doc: JSON = orjson.loads(self.run_bytes(run, commit))
                        return doc
            raise LookupError(f"no completed run to re-run on {head_sha}")

    def touch_check_runs_only(self, full_name: str, number: int | None = None) -> str:
        """Make a check-run-only change on a PR's head (a re-run); returns the head SHA."""
        with self.lock:
            repo = self._repo(full_name)
            prs = [repo.pulls[number]] if number is not None else list(repo.pulls.values())
            for pr in prs:
                commit = self.pop.commits[pr.head_sha]
                if any(r.status == "completed" for r in self.materialize(commit)):
                    self.rerun_check_run(full_name, pr.head_sha)
                    return pr.head_sha
            raise LookupError(f"no PR of {full_name} has a completed run")
