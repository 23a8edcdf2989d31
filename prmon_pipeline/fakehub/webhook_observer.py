"""World changes -> webhook events (``pull_request``, ``check_run``, ``check_suite``,
``repository``), told by the world as they happen (``World.listeners``).

A PR change is compared with the PR's previous snapshot to name GitHub's actions: ``opened``,
``closed`` (merged or not), ``reopened``, ``synchronize`` (before/after), ``edited`` (changes
of title, body, base), ``labeled``/``unlabeled`` and ``assigned``/``unassigned`` (one per
label or assignee), ``review_requested``/``review_request_removed``, ``converted_to_draft``/
``ready_for_review``, ``auto_merge_enabled``/``auto_merge_disabled``. A change that shows in
none of these (fakehub's bulk bump, modelling a base-branch retarget) is an ``edited`` whose
``changes.base`` names the same base. Each body is rendered at once, so it shows the PR as it
was after that very event.

Check runs are materialised lazily, so runs are judged by their own times: a run queued
after the observer started is ``created`` once; a run completed after it started is
``completed`` once; when that completes a suite, the suite is ``completed``. Runs that were
there before the observer started produce nothing until they complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from prmon_pipeline.fakehub.model import Commit, PullRequest, Repository, User
from prmon_pipeline.fakehub.render import label_json
from prmon_pipeline.fakehub.webhook_faults import WebhookFaults
from prmon_pipeline.fakehub.webhook_payloads import PayloadRenderer
from prmon_pipeline.fakehub.world_evolution import apply_to_pr

if TYPE_CHECKING:
    from prmon_pipeline.fakehub.world import World

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorldEvent:
    """One webhook event: name, action, repository, body (without ``installation``), the PR
    of a ``pull_request`` event, and the world time it happened."""

    event: str
    action: str
    repo: Repository
    body: JSON
    at: int
    pr: PullRequest | None = None


Dispatch = Callable[[WorldEvent], None]


class PullRequestState(NamedTuple):
    """What a ``pull_request`` action can be read from."""

    state: str
    draft: bool
    title: str
    body: str | None
    head_sha: str
    base_ref: str
    base_sha: str
    label_ids: tuple[int, ...]
    assignees: tuple[User, ...]
    reviewers: tuple[User, ...]
    auto_merge: str | None


def state_of(pr: PullRequest) -> PullRequestState:
    return PullRequestState(
        pr.state,
        pr.draft,
        pr.title,
        pr.body,
        pr.head_sha,
        pr.base_ref,
        pr.base_sha,
        tuple(label.id for label in pr.labels),
        tuple(pr.assignees),
        tuple(pr.requested_reviewers),
        pr.auto_merge_method,
    )


class WorldObserver:
    """A :class:`~prmon_pipeline.fakehub.world.WorldListener` that dispatches webhook events."""

    def __init__(
        self, world: World, renderer: PayloadRenderer, dispatch: Dispatch, faults: WebhookFaults
    ) -> None:
        self.world = world
        self.renderer = renderer
        self.dispatch = dispatch
        self.faults = faults
        self.since = world.now_epoch
        self.states: dict[tuple[int, int], PullRequestState] = {
            (repo.id, pr.number): state_of(pr)
            for repo in world.pop.repos
            for pr in repo.pulls.values()
        }
        self.created: set[int] = set()
        self.completed: set[int] = set()
        self._same_second = False

    # -- pull requests ---------------------------------------------------------------------

    def pull_request_changed(self, pr: PullRequest) -> None:
        key = (pr.repo.id, pr.number)
        old, new = self.states.get(key), state_of(pr)
        self.states[key] = new
        for action, extra in self.actions(pr, old, new):
            sender = pr.merged_by if action == "closed" and pr.merged_by else pr.user
            body = self.renderer.pull_request(pr, action, sender, extra)
            self.dispatch(WorldEvent("pull_request", action, pr.repo, body, pr.updated_at, pr))
        if not self._same_second and self.faults.pick(("same_second",), "pull_request"):
            self._same_second = True  # a second change now, same second, not faulted again
            try:
                apply_to_pr(self.world, "label", pr)
            finally:
                self._same_second = False

    def actions(
        self, pr: PullRequest, old: PullRequestState | None, new: PullRequestState
    ) -> list[tuple[str, JSON]]:
        """GitHub's ``pull_request`` actions for the change ``old`` -> ``new``, in order."""
        if old is None:
            return [("opened", {})]
        out: list[tuple[str, JSON]] = []
        if old.state == "closed" and new.state == "open":
            out.append(("reopened", {}))
        if old.head_sha != new.head_sha:
            out.append(("synchronize", {"before": old.head_sha, "after": new.head_sha}))
        out += _edited(old, new)
        out += self._label_actions(pr, old, new)
        out += _people_actions(self.renderer, old.assignees, new.assignees, "assign", "assignee")
        out += _people_actions(
            self.renderer, old.reviewers, new.reviewers, "review_request", "requested_reviewer"
        )
        out += _toggles(old, new)
        if old.state == "open" and new.state == "closed":
            out.append(("closed", {}))
        if not out:
            base = {"ref": {"from": new.base_ref}, "sha": {"from": new.base_sha}}
            out.append(("edited", {"changes": {"base": base}}))
        return out

    def _label_actions(
        self, pr: PullRequest, old: PullRequestState, new: PullRequestState
    ) -> list[tuple[str, JSON]]:
        api = self.renderer.api
        by_id = {label.id: label for label in pr.repo.labels}
        out: list[tuple[str, JSON]] = []
        for ident in new.label_ids:
            if ident not in old.label_ids and ident in by_id:
                out.append(("labeled", {"label": label_json(by_id[ident], pr.repo, api)}))
        for ident in old.label_ids:
            if ident not in new.label_ids and ident in by_id:
                out.append(("unlabeled", {"label": label_json(by_id[ident], pr.repo, api)}))
        return out

    # -- check runs and suites -------------------------------------------------------------

    def runs_changed(self, commit: Commit) -> None:
        runs = commit.runs or []
        finished_suites: set[int] = set()
        for run in runs:
            if run.id not in self.created and run.queued_at >= self.since:
                self.created.add(run.id)
                body = self.renderer.check_run(run, commit, "created")
                self.dispatch(WorldEvent("check_run", "created", commit.repo, body, run.queued_at))
            done_at = (run.completed_at or 0) if run.status == "completed" else 0
            if done_at > self.since and run.id not in self.completed:
                self.completed.add(run.id)
                body = self.renderer.check_run(run, commit, "completed")
                self.dispatch(WorldEvent("check_run", "completed", commit.repo, body, done_at))
                finished_suites.add(run.suite_id)
        for suite in sorted(finished_suites):
            members = [r for r in runs if r.suite_id == suite]
            if all(r.status == "completed" for r in members):
                body = self.renderer.check_suite(commit, members, "completed")
                at = max(r.completed_at or 0 for r in members)
                self.dispatch(WorldEvent("check_suite", "completed", commit.repo, body, at))

    # -- repositories ----------------------------------------------------------------------

    def repository_changed(
        self, repo: Repository, action: str, changes: JSON, previous_owner: User | None = None
    ) -> None:
        if previous_owner is not None:  # transferred: GitHub names the previous account
            organization = self.renderer.organization(previous_owner)
            was = (
                {"organization": organization}
                if organization is not None
                else {"user": self.renderer.user(previous_owner)}
            )
            changes = {**changes, "owner": {"from": was}}
        body = self.renderer.repository_event(repo, action, changes)
        self.dispatch(WorldEvent("repository", action, repo, body, self.world.now_epoch))


def _edited(old: PullRequestState, new: PullRequestState) -> list[tuple[str, JSON]]:
    """``edited`` with ``changes`` of title, body and base, when any changed."""
    changes: JSON = {}
    if old.title != new.title:
        changes["title"] = {"from": old.title}
    if old.body != new.body:
        changes["body"] = {"from": old.body or ""}
    if (old.base_ref, old.base_sha) != (new.base_ref, new.base_sha):
        changes["base"] = {"ref": {"from": old.base_ref}, "sha": {"from": old.base_sha}}
    return [("edited", {"changes": changes})] if changes else []


def _toggles(old: PullRequestState, new: PullRequestState) -> list[tuple[str, JSON]]:
    """Draft and auto-merge switches of an open PR."""
    out: list[tuple[str, JSON]] = []
    if new.state != "open":
        return out
    if old.draft != new.draft:
        out.append(("converted_to_draft" if new.draft else "ready_for_review", {}))
    if old.auto_merge != new.auto_merge:
        if new.auto_merge:
            out.append(("auto_merge_enabled", {}))
        else:  # the schema requires a reason here; GitHub's wording is not documented
            out.append(("auto_merge_disabled", {"reason": "Auto-merge was disabled"}))
    return out


def _people_actions(
    renderer: PayloadRenderer,
    old: tuple[User, ...],
    new: tuple[User, ...],
    verb: str,
    key: str,
) -> list[tuple[str, JSON]]:
    """``assigned``/``unassigned`` or ``review_requested``/``review_request_removed``."""
    added = "assigned" if verb == "assign" else "review_requested"
    removed = "unassigned" if verb == "assign" else "review_request_removed"
    out: list[tuple[str, JSON]] = []
    out += [(added, {key: renderer.user(u)}) for u in new if u not in old]
    out += [(removed, {key: renderer.user(u)}) for u in old if u not in new]
    return out
