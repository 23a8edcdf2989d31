"""Webhook bodies rendered from the same objects fakehub's REST API serves.

``pull_request`` events embed the single-GET ``pull-request`` object plus the eight
repository-setting fields GitHub's webhook schema adds (``pull-request-webhook``); ``check_run``
events embed the REST ``check-run`` whose ``check_suite`` is a full simple suite;
``check_suite`` events a suite with its ``head_commit``. For fork PRs the suite's
``head_branch`` is null and ``pull_requests`` empty, as GitHub documents. Bodies are compact
JSON (the signature covers the exact bytes). ``installation`` is added per hook (Apps only).
"""

from __future__ import annotations

from typing import Any

from prmon_pipeline.fakehub.model import App, CheckRun, Commit, PullRequest, Repository, User
from prmon_pipeline.fakehub.render import check_run_json, pr_full
from prmon_pipeline.fakehub.render_repository import (
    full_repo_json,
    iso,
    legacy_node_id,
    user_json,
)

JSON = dict[str, Any]

PR_REPOSITORY_SETTINGS: JSON = {
    "allow_auto_merge": True,
    "allow_update_branch": True,
    "delete_branch_on_merge": False,
    "merge_commit_message": "PR_TITLE",
    "merge_commit_title": "MERGE_MESSAGE",
    "squash_merge_commit_message": "COMMIT_MESSAGES",
    "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
    "use_squash_pr_title_as_default": False,
}
"""What ``pull-request-webhook`` adds to the REST ``pull-request`` (repository settings)."""


class PayloadRenderer:
    """Renders bodies against one world's API and web base URLs."""

    def __init__(self, api: str, web: str) -> None:
        self.api = api
        self.web = web

    def repository(self, repo: Repository) -> JSON:
        """``repository-webhooks``: the full repository object (``GET /repos/{o}/{r}``)."""
        return full_repo_json(repo, self.api, self.web)

    def organization(self, owner: User) -> JSON | None:
        """``organization-simple-webhooks`` when the owner is an organisation."""
        if owner.type != "Organization":
            return None
        u = f"{self.api}/orgs/{owner.login}"
        return {
            "login": owner.login,
            "id": owner.id,
            "node_id": legacy_node_id("012", "Organization", owner.id),
            "url": u,
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events",
            "hooks_url": f"{u}/hooks",
            "issues_url": f"{u}/issues",
            "members_url": f"{u}/members{{/member}}",
            "public_members_url": f"{u}/public_members{{/member}}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{owner.id}?v=4",
            "description": None,
        }

    def envelope(self, action: str, repo: Repository, sender: JSON) -> JSON:
        """The keys every repository event carries: action, repository, organization, sender."""
        doc: JSON = {"action": action}
        return self.finish(doc, repo, sender)

    def finish(self, doc: JSON, repo: Repository, sender: JSON) -> JSON:
        """Append repository, organization (org-owned only) and sender, in GitHub's order."""
        doc["repository"] = self.repository(repo)
        organization = self.organization(repo.owner)
        if organization is not None:
            doc["organization"] = organization
        doc["sender"] = sender
        return doc

    def user(self, user: User) -> JSON:
        return user_json(user, self.api, self.web)

    def bot(self, app: App) -> JSON:
        """The ``[bot]`` account an App acts as (the sender of its check events)."""
        ident = 41_000_000 + app.id
        u = f"{self.api}/users/{app.slug}%5Bbot%5D"
        return {
            **user_json(User(login=f"{app.slug}[bot]", id=ident, type="Bot"), self.api, self.web),
            "url": u,
            "html_url": f"{self.web}/apps/{app.slug}",
        }

    # -- pull_request ----------------------------------------------------------------------

    def pull_request_object(self, pr: PullRequest) -> JSON:
        """``pull-request-webhook``: the single-GET object plus the repository settings."""
        doc = pr_full(pr, self.api, self.web)
        doc.update(PR_REPOSITORY_SETTINGS)
        return doc

    def pull_request(self, pr: PullRequest, action: str, sender: User, extra: JSON) -> JSON:
        """A ``pull_request`` body: action, number, pull_request, the action's extras, ..."""
        doc: JSON = {"action": action, "number": pr.number}
        doc["pull_request"] = self.pull_request_object(pr)
        doc.update(extra)
        return self.finish(doc, pr.repo, self.user(sender))

    # -- checks ----------------------------------------------------------------------------

    def suite(self, commit: Commit, app: App, runs: list[CheckRun], full: bool) -> JSON:
        """``simple-check-suite`` (``full``: the ``check_suite`` event's extra keys too)."""
        ident = runs[0].suite_id
        done = all(r.status == "completed" for r in runs)
        status = "completed" if done else ("queued" if _all_queued(runs) else "in_progress")
        conclusion = _suite_conclusion(runs) if done else None
        repo = commit.repo
        same_repo = [p for p in commit.pulls if p.head_sha == commit.sha]
        head_branch = same_repo[0].head_ref if same_repo else None
        pulls = check_run_json(runs[0], commit, self.api, self.web)["pull_requests"]
        updated = max((r.completed_at or r.started_at or r.queued_at) for r in runs)
        doc: JSON = {
            "id": ident,
            "node_id": legacy_node_id("010", "CheckSuite", ident),
            "head_branch": head_branch,
            "head_sha": commit.sha,
            "status": status,
            "conclusion": conclusion,
            "url": f"{self.api}/repos/{repo.full_name}/check-suites/{ident}",
            "before": None,
            "after": commit.sha,
            "pull_requests": pulls,
            "app": app.json,
            "created_at": iso(min(r.queued_at for r in runs)),
            "updated_at": iso(updated),
        }
        if full:
            doc["latest_check_runs_count"] = len(runs)
            doc["check_runs_url"] = f"{doc['url']}/check-runs"
            doc["rerequestable"] = True
            doc["runs_rerequestable"] = True
            doc["head_commit"] = self.head_commit(commit)
        return doc

    def head_commit(self, commit: Commit) -> JSON:
        """``simple-commit`` of the suite's head."""
        owner = commit.repo.owner
        person = {"name": owner.login, "email": f"{owner.login}@users.noreply.github.com"}
        return {
            "id": commit.sha,
            "tree_id": commit.sha[::-1],
            "message": f"Commit {commit.serial}",
            "timestamp": iso(commit.created_at),
            "author": person,
            "committer": person,
        }

    def check_run(self, run: CheckRun, commit: Commit, action: str) -> JSON:
        """A ``check_run`` body; the run's ``check_suite`` is the full simple suite."""
        doc = check_run_json(run, commit, self.api, self.web)
        runs = [r for r in commit.runs or () if r.suite_id == run.suite_id]
        doc["check_suite"] = self.suite(commit, run.app, runs, full=False)
        body: JSON = {"action": action, "check_run": doc}
        return self.finish(body, commit.repo, self.bot(run.app))

    def check_suite(self, commit: Commit, runs: list[CheckRun], action: str) -> JSON:
        """A ``check_suite`` body for one (commit, app) suite."""
        app = runs[0].app
        body: JSON = {"action": action, "check_suite": self.suite(commit, app, runs, full=True)}
        return self.finish(body, commit.repo, self.bot(app))

    # -- repository and ping -----------------------------------------------------------------

    def repository_event(self, repo: Repository, action: str, changes: JSON) -> JSON:
        """A ``repository`` body (``renamed`` carries ``changes.repository.name.from``)."""
        doc: JSON = {"action": action}
        if changes:
            doc["changes"] = changes
        return self.finish(doc, repo, self.user(repo.owner))


_CONCLUSION_ORDER = (
    "action_required",
    "startup_failure",
    "failure",
    "timed_out",
    "cancelled",
    "stale",
    "neutral",
    "skipped",
    "success",
)


def _all_queued(runs: list[CheckRun]) -> bool:
    return all(r.status == "queued" for r in runs)


def _suite_conclusion(runs: list[CheckRun]) -> str:
    """The worst run conclusion (GitHub's suite rolls up its runs; success only if all pass)."""
    seen = {r.conclusion for r in runs}
    for conclusion in _CONCLUSION_ORDER:
        if conclusion in seen:
            return conclusion
    return "success"
