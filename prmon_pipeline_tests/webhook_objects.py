"""Minimal REST-shaped pull-request and check-run objects and their delivery envelopes, for the
pure tests of ``core.webhook_events`` (the PostgreSQL tests use fakehub's served objects)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from prmon_pipeline.core.webhook_events import PendingDelivery

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REPOSITORY = {"id": 42, "full_name": "acme/widgets", "name": "widgets", "owner": {"login": "acme"}}


def stamp(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha_of(number: int) -> str:
    return f"{number:040x}"


def pr_object(number: int, updated: int, **overrides: Any) -> dict[str, Any]:
    """The fields of GET /pulls/{n} the parser reads, at ``updated`` seconds after T0."""
    pr: dict[str, Any] = {
        "id": 5_000 + number,
        "number": number,
        "title": f"PR {number}",
        "body": "",
        "state": "open",
        "draft": False,
        "user": {"login": "octocat"},
        "base": {"ref": "main", "sha": "b" * 40, "repo": REPOSITORY},
        "head": {"ref": f"topic-{number}", "sha": sha_of(number), "repo": REPOSITORY},
        "labels": [],
        "assignees": [],
        "html_url": f"https://github.com/acme/widgets/pull/{number}",
        "created_at": stamp(0),
        "updated_at": stamp(updated),
        "closed_at": None,
        "merged_at": None,
    }
    pr.update(overrides)
    return pr


def run_object(run_id: int, head_sha: str, status: str, **overrides: Any) -> dict[str, Any]:
    """A check run as REST (and, with its suite, a webhook) shows it; fork PRs: no PRs listed."""
    done = status == "completed"
    run: dict[str, Any] = {
        "id": run_id,
        "head_sha": head_sha,
        "name": f"build {run_id}",
        "status": status,
        "conclusion": "success" if done else None,
        "app": {"slug": "github-actions"},
        "details_url": f"https://ci.example/{run_id}",
        "started_at": stamp(10) if status != "queued" else None,
        "completed_at": stamp(20) if done else None,
        "output": {"title": None, "summary": None},
        "pull_requests": [],
        "check_suite": {"id": 7, "head_sha": head_sha, "head_branch": None},
    }
    run.update(overrides)
    return run


def delivery(
    ident: int,
    event: str,
    payload: dict[str, Any] | bytes,
    *,
    received: datetime = T0,
    content_type: str = "application/json",
) -> PendingDelivery:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    action = None if isinstance(payload, bytes) else payload.get("action")
    return PendingDelivery(ident, event, action, body, content_type, received)


def pr_delivery(ident: int, pr: dict[str, Any], action: str = "edited") -> PendingDelivery:
    payload = {"action": action, "number": pr["number"], "pull_request": pr}
    return delivery(ident, "pull_request", {**payload, "repository": REPOSITORY})


def run_delivery(ident: int, run: dict[str, Any], *, received: datetime = T0) -> PendingDelivery:
    action = "completed" if run["status"] == "completed" else "created"
    payload = {"action": action, "check_run": run, "repository": REPOSITORY}
    return delivery(ident, "check_run", payload, received=received)
