"""Accounts, repositories and apps -> JSON (shared by PR and check-run rendering).

These objects repeat in every PR (``user``, ``head.repo``, ``base.repo``) and every run
(``app``), so each is built once and cached on its entity.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from prmon_pipeline.fakehub.model import App, Repository, User

JSON = dict[str, Any]


def iso(ts: int | None) -> str | None:
    """Epoch seconds -> GitHub's ``2026-01-01T00:00:00Z`` (second resolution, Z suffix)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def legacy_node_id(type_code: str, type_name: str, ident: int) -> str:
    """The classic ``MDg6Q2hlY2tSdW4...`` node id: base64 of ``08:CheckRun<id>``."""
    return base64.b64encode(f"{type_code}:{type_name}{ident}".encode()).decode()


def user_json(user: User, api: str, web: str) -> JSON:
    """``simple-user``; immutable per world, so cached on the object."""
    if user.json is not None:
        return user.json
    u = f"{api}/users/{user.login}"
    code, name = ("012", "Organization") if user.type == "Organization" else ("04", "User")
    user.json = {
        "login": user.login,
        "id": user.id,
        "node_id": legacy_node_id(code, name, user.id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{web}/{user.login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": user.type,
        "site_admin": False,
    }
    return user.json


_REPO_TEMPLATES = (
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
)


def repo_json(repo: Repository, api: str, web: str) -> JSON:
    """Nested ``repository`` object (``head.repo``/``base.repo``), cached per ``repo.rev``.

    Counters (``open_issues_count``, ``pushed_at``) are a snapshot refreshed only when the
    repository itself changes (rename), not on every PR event: GitHub would change them, but
    then every PR's ETag in the repository would change on any event and the simulator could
    no longer show the 304 economy of an unchanged PR page.
    """
    if repo.json is not None and repo.json_rev == repo.rev:
        return repo.json
    full = repo.full_name
    u = f"{api}/repos/{full}"
    doc: JSON = {
        "id": repo.id,
        "node_id": legacy_node_id("010", "Repository", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": False,
        "owner": user_json(repo.owner, api, web),
        "html_url": f"{web}/{full}",
        "description": repo.description,
        "fork": repo.fork,
        "url": u,
    }
    for key, suffix in _REPO_TEMPLATES:
        doc[key] = u + suffix
    doc.update(
        {
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.pushed_at),
            "pushed_at": iso(repo.pushed_at),
            "git_url": f"git://github.com/{full}.git",
            "ssh_url": f"git@github.com:{full}.git",
            "clone_url": f"{web}/{full}.git",
            "svn_url": f"{web}/{full}",
            "homepage": None,
            "size": 1024 + repo.id % 9000,
            "stargazers_count": repo.id % 97,
            "watchers_count": repo.id % 97,
            "language": "Python",
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": repo.forks_count,
            "mirror_url": None,
            "archived": repo.archived,
            "disabled": False,
            "open_issues_count": repo.open_issues_count,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "public",
            "forks": repo.forks_count,
            "open_issues": repo.open_issues_count,
            "watchers": repo.id % 97,
            "default_branch": "main",
        }
    )
    repo.json = doc
    repo.json_rev = repo.rev
    return doc


def full_repo_json(repo: Repository, api: str, web: str) -> JSON:
    """``GET /repos/{o}/{r}``: the nested object plus the full-repository extras."""
    doc = dict(repo_json(repo, api, web))
    doc["network_count"] = repo.forks_count
    doc["subscribers_count"] = repo.id % 31
    if repo.owner.type == "Organization":
        doc["organization"] = user_json(repo.owner, api, web)
    return doc


def app_json(app: App, owner: User, api: str, web: str) -> JSON:
    """``integration`` object embedded in each run (GitHub Actions carries permissions/events)."""
    return {
        "id": app.id,
        "slug": app.slug,
        "node_id": legacy_node_id("03", "App", app.id),
        "owner": user_json(owner, api, web),
        "name": app.name,
        "description": f"{app.name} checks",
        "external_url": f"https://{app.slug}.example.com",
        "html_url": f"{web}/apps/{app.slug}",
        "created_at": "2018-07-30T09:30:17Z",
        "updated_at": "2024-04-10T20:33:16Z",
        "permissions": {"checks": "write", "contents": "read", "metadata": "read"},
        "events": ["check_run", "check_suite", "pull_request", "push"],
    }
