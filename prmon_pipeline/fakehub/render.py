"""Entities -> the JSON GitHub serves, with per-entity byte caches.

Key order and key sets follow the recorded bodies in the test corpus (list items are
``pull-request-simple``, the single GET is ``pull-request``, runs are ``check-run``); nullable
fields are emitted as ``null``, never omitted. A PR list item is serialised once per
``(pr.rev, repo.rev, head repo rev)`` and pages are byte joins of those items, so rendering a
page of 100 PRs after one PR changed costs one ``orjson.dumps`` of one item. Items live in the
world's :class:`~prmon_pipeline.fakehub.item_cache.ItemCache` (a byte budget, LRU).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import orjson

from prmon_pipeline.fakehub.gzip_pages import deflate_segment
from prmon_pipeline.fakehub.item_cache import ItemCache, Rendered, SharedMarks
from prmon_pipeline.fakehub.model import CheckRun, Commit, Label, PullRequest, Repository, User
from prmon_pipeline.fakehub.render_repository import iso, legacy_node_id, repo_json, user_json

JSON = dict[str, Any]


def label_json(label: Label, repo: Repository, api: str) -> JSON:
    """An entry of ``labels[]``."""
    return {
        "id": label.id,
        "node_id": legacy_node_id("05", "Label", label.id),
        "url": f"{api}/repos/{repo.full_name}/labels/{quote(label.name)}",
        "name": label.name,
        "color": label.color,
        "default": label.default,
        "description": label.description,
    }


def _head_json(pr: PullRequest, api: str, web: str) -> JSON:
    """``head``: label/user/repo go ``null`` when the fork or its owner is gone."""
    user = pr.head_user
    return {
        "label": None if user is None or pr.head_label_gone else f"{user.login}:{pr.head_ref}",
        "ref": pr.head_ref,
        "sha": pr.head_sha,
        "user": None if user is None else user_json(user, api, web),
        "repo": None if pr.head_repo is None else repo_json(pr.head_repo, api, web),
    }


def pr_simple(pr: PullRequest, api: str, web: str) -> JSON:
    """``pull-request-simple``: what ``GET /pulls`` lists (no ``merged``/``mergeable``...)."""
    repo = pr.repo
    full = repo.full_name
    u = f"{api}/repos/{full}/pulls/{pr.number}"
    issue = f"{api}/repos/{full}/issues/{pr.number}"
    html = f"{web}/{full}/pull/{pr.number}"
    statuses = f"{api}/repos/{full}/statuses/{pr.head_sha}"
    assignees = [user_json(a, api, web) for a in pr.assignees]
    auto_merge = None
    if pr.auto_merge_method is not None:
        auto_merge = {
            "enabled_by": user_json(pr.user, api, web),
            "merge_method": pr.auto_merge_method,
            "commit_title": pr.title,
            "commit_message": "",
        }
    return {
        "url": u,
        "id": pr.id,
        "node_id": legacy_node_id("011", "PullRequest", pr.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "number": pr.number,
        "state": pr.state,
        "locked": pr.locked,
        "title": pr.title,
        "user": user_json(pr.user, api, web),
        "body": pr.body,
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "closed_at": iso(pr.closed_at),
        "merged_at": iso(pr.merged_at),
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "requested_reviewers": [user_json(r, api, web) for r in pr.requested_reviewers],
        "requested_teams": [],
        "labels": [label_json(label, repo, api) for label in pr.labels],
        "milestone": None,
        "draft": pr.draft,
        "commits_url": f"{u}/commits",
        "review_comments_url": f"{u}/comments",
        "review_comment_url": f"{api}/repos/{full}/pulls/comments{{/number}}",
        "comments_url": f"{issue}/comments",
        "statuses_url": statuses,
        "head": _head_json(pr, api, web),
        "base": {
            "label": f"{repo.owner.login}:{pr.base_ref}",
            "ref": pr.base_ref,
            "sha": pr.base_sha,
            "user": user_json(repo.owner, api, web),
            "repo": repo_json(repo, api, web),
        },
        "_links": {
            "self": {"href": u},
            "html": {"href": html},
            "issue": {"href": issue},
            "comments": {"href": f"{issue}/comments"},
            "review_comments": {"href": f"{u}/comments"},
            "review_comment": {"href": f"{api}/repos/{full}/pulls/comments{{/number}}"},
            "commits": {"href": f"{u}/commits"},
            "statuses": {"href": statuses},
        },
        "author_association": pr.author_association,
        "auto_merge": auto_merge,
        "active_lock_reason": pr.active_lock_reason,
    }


def pr_simple_item(pr: PullRequest, api: str, web: str, cache: ItemCache) -> Rendered:
    """Serialised list item, re-rendered only when the PR or an embedded repo changed.

    Kept as fragments sharing the repositories', accounts' and long bodies' bytes, with the
    item's deflate segment for gzip pages (see ``item_cache`` and ``gzip_pages``).
    """
    head_rev = -1 if pr.head_repo is None else pr.head_repo.rev
    key = (pr.rev, pr.repo.rev, head_rev)
    found = cache.get(pr, key)
    if found is not None:
        return found
    doc = pr_simple(pr, api, web)
    marks = SharedMarks()

    def user(account: User) -> str:
        return marks.mark(_user_bytes(account, api, web, cache))

    doc["user"] = user(pr.user)
    if pr.assignees:
        doc["assignee"] = user(pr.assignees[0])
    doc["assignees"] = [user(account) for account in pr.assignees]
    doc["requested_reviewers"] = [user(account) for account in pr.requested_reviewers]
    head, base = doc["head"], doc["base"]
    if pr.head_user is not None:
        head["user"] = user(pr.head_user)
    if pr.head_repo is not None:
        head["repo"] = marks.mark(_repo_bytes(pr.head_repo, api, web, cache))
    base["user"] = user(pr.repo.owner)
    base["repo"] = marks.mark(_repo_bytes(pr.repo, api, web, cache))
    if doc["auto_merge"] is not None:
        doc["auto_merge"]["enabled_by"] = user(pr.user)
    if pr.body is not None and len(pr.body) >= _SHARED_BODY_CHARS:
        body = pr.body
        doc["body"] = marks.mark(cache.shared_bytes(("body", body), lambda: orjson.dumps(body)))
    split = marks.split(orjson.dumps(doc))
    if split is None:  # the PR's own text holds the marker: keep it whole
        data = orjson.dumps(pr_simple(pr, api, web))
        split = (data,), len(data), len(data)
    item = Rendered(key, *split)
    item.segment = deflate_segment(item.join())
    item.cost += len(item.segment)
    return cache.put(pr, item)


_SHARED_BODY_CHARS = 1024
"""Bodies this long are shared bytes (the generator reuses one long body per size)."""


def _repo_bytes(repo: Repository, api: str, web: str, cache: ItemCache) -> bytes:
    return cache.shared_bytes(
        ("repo", repo, repo.rev), lambda: orjson.dumps(repo_json(repo, api, web))
    )


def _user_bytes(user: User, api: str, web: str, cache: ItemCache) -> bytes:
    return cache.shared_bytes(("user", user), lambda: orjson.dumps(user_json(user, api, web)))


def pr_full(pr: PullRequest, api: str, web: str) -> JSON:
    """``pull-request`` (single GET): the list item plus merge and size details."""
    doc = pr_simple(pr, api, web)
    merged = pr.merged_at is not None
    # null is what merged PRs showed in the corpus (#2078, #3370)
    mergeable = None if merged else pr.id % 7 != 0
    doc.update(
        {
            "merged": merged,
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": "unknown"
            if mergeable is None
            else ("clean" if mergeable else "dirty"),
            "merged_by": None if pr.merged_by is None else user_json(pr.merged_by, api, web),
            "comments": pr.comments,
            "review_comments": pr.review_comments,
            "maintainer_can_modify": pr.is_fork and pr.state == "open",
            "commits": pr.commits,
            "additions": pr.additions,
            "deletions": pr.deletions,
            "changed_files": pr.changed_files,
        }
    )
    return doc


def _pull_request_minimal(pr: PullRequest, api: str) -> JSON:
    repo = pr.repo
    ref = {"id": repo.id, "url": f"{api}/repos/{repo.full_name}", "name": repo.name}
    return {
        "url": f"{api}/repos/{repo.full_name}/pulls/{pr.number}",
        "id": pr.id,
        "number": pr.number,
        "head": {"ref": pr.head_ref, "sha": pr.head_sha, "repo": ref},
        "base": {"ref": pr.base_ref, "sha": pr.base_sha, "repo": ref},
    }


_OUTPUT_TEXT = {
    "success": ("Build passed", "All checks passed."),
    "failure": ("1 failing test", "test_sync_roundtrip failed: expected 1000 rows, got 999"),
    "neutral": ("No changes to lint", None),
    "cancelled": ("Cancelled", "The run was cancelled."),
    "skipped": (None, None),
    "timed_out": ("Timed out", "The job exceeded the maximum execution time of 360 minutes."),
    "action_required": ("Approval required", "A maintainer must approve this run."),
    "stale": (None, None),
    "startup_failure": ("Startup failure", "The workflow could not start."),
}


def check_run_json(run: CheckRun, commit: Commit, api: str, web: str) -> JSON:
    """``check-run``; ``pull_requests[]`` lists open same-repo PRs whose head is this commit."""
    full = commit.repo.full_name
    u = f"{api}/repos/{full}/check-runs/{run.id}"
    html = f"{web}/{full}/runs/{run.id}"
    actions = run.app.slug == "github-actions"
    title, summary = (None, None)
    if run.conclusion is not None:
        title, summary = _OUTPUT_TEXT[run.conclusion]
    return {
        "id": run.id,
        "name": run.name,
        "node_id": legacy_node_id("08", "CheckRun", run.id),
        "head_sha": run.head_sha,
        "external_id": str(uuid.UUID(int=(run.id * 0x9E3779B97F4A7C15) % (1 << 128)))
        if actions
        else "",
        "url": u,
        "html_url": html,
        "details_url": html if actions else f"https://ci.example.com/{run.app.slug}/{run.id}",
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at),
        "output": {
            "title": title,
            "summary": summary,
            "text": None,
            "annotations_count": run.annotations_count,
            "annotations_url": f"{u}/annotations",
        },
        "check_suite": {"id": run.suite_id},
        "app": run.app.json,
        "pull_requests": [
            _pull_request_minimal(pr, api)
            for pr in commit.pulls
            if pr.state == "open" and pr.head_sha == commit.sha
        ],
    }


def check_run_item(run: CheckRun, commit: Commit, api: str, web: str, cache: ItemCache) -> Rendered:
    """Serialised run, re-rendered when it, its commit's PR links or its repo changed."""
    key = (run.rev, commit.pr_epoch, commit.repo.rev)
    found = cache.get(run, key)
    if found is not None:
        return found
    doc = check_run_json(run, commit, api, web)
    app = run.app
    marks = SharedMarks()
    doc["app"] = marks.mark(cache.shared_bytes(("app", app), lambda: orjson.dumps(app.json)))
    split = marks.split(orjson.dumps(doc))
    if split is None:  # the run's own text holds the marker: keep it whole
        data = orjson.dumps(check_run_json(run, commit, api, web))
        split = (data,), len(data), len(data)
    return cache.put(run, Rendered(key, *split))
