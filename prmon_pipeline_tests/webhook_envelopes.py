"""Webhook deliveries built from the objects fakehub's REST API serves, for the applier's tests.

GitHub embeds the REST pull-request and check-run objects in ``pull_request`` and ``check_run``
deliveries (``shared/GITHUB-WEBHOOKS.md`` §4); these helpers wrap what ``GET /pulls/{n}`` and
``GET /commits/{sha}/check-runs`` return in the envelope of §4 (``action``, ``repository``,
``sender``, ``number``) and store it in ``prmon.webhook_deliveries`` as the receiver would (raw
bytes, pending). fakehub's own sender is built elsewhere; an end-to-end test joins the two.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

import orjson
import psycopg

from prmon_pipeline.fakehub import World
from prmon_pipeline.github.client import GitHubClient

SENDER = {"login": "octocat", "id": 1, "type": "User"}


def served(client: GitHubClient, path: str) -> Any:
    """What fakehub's REST API answers to ``GET path`` (decoded JSON)."""
    return asyncio.run(client.get(path)).data


def served_pull_request(client: GitHubClient, repository: str, number: int) -> dict[str, Any]:
    data = served(client, f"repos/{repository}/pulls/{number}")
    assert isinstance(data, dict)
    return data


def served_check_runs(client: GitHubClient, repository: str, sha: str) -> list[dict[str, Any]]:
    data = served(client, f"repos/{repository}/commits/{quote(sha)}/check-runs?per_page=100")
    assert isinstance(data, dict)
    return list(data["check_runs"])


def repository_object(world: World, repository: str) -> dict[str, Any]:
    data = world.repository(repository)
    assert isinstance(data, dict)
    return data


def pull_request_body(repo: dict[str, Any], pr: dict[str, Any], action: str = "edited") -> bytes:
    envelope = {
        "action": action,
        "number": pr["number"],
        "pull_request": pr,
        "repository": repo,
        "sender": SENDER,
    }
    return orjson.dumps(envelope)


def check_run_body(repo: dict[str, Any], run: dict[str, Any], action: str = "") -> bytes:
    action = action or ("completed" if run["status"] == "completed" else "created")
    return orjson.dumps({"action": action, "check_run": run, "repository": repo, "sender": SENDER})


def check_suite_body(
    repo: dict[str, Any], head_sha: str, app_slug: str | None = None, runs: int | None = None
) -> bytes:
    """A ``check_suite.completed``; with the app and ``latest_check_runs_count`` when given."""
    suite: dict[str, Any] = {"id": 1, "head_sha": head_sha, "status": "completed"}
    suite["pull_requests"] = []
    if app_slug is not None:
        suite["app"] = {"slug": app_slug}
    if runs is not None:
        suite["latest_check_runs_count"] = runs
    envelope = {"action": "completed", "check_suite": suite, "repository": repo, "sender": SENDER}
    return orjson.dumps(envelope)


def insert_delivery(
    conn: psycopg.Connection[tuple[object, ...]],
    event: str,
    body: bytes,
    *,
    repository: dict[str, Any] | None = None,
    action: str | None = None,
    content_type: str = "application/json",
    guid: str | None = None,
    hook_id: int = 1,
) -> int:
    """Store one delivery as the receiver does (pending); returns its id."""
    decoded = orjson.loads(body) if content_type == "application/json" else {}
    row = conn.execute(
        "INSERT INTO prmon.webhook_deliveries (guid, hook_id, event, action, target_type,"
        " target_id, repository_github_id, repository_full_name, content_type, body)"
        " VALUES (%s, %s, %s, %s, 'repository', %s, %s, %s, %s, %s) RETURNING id",
        (
            guid or str(uuid.uuid1()),
            hook_id,
            event,
            action if action is not None else decoded.get("action"),
            None if repository is None else repository["id"],
            None if repository is None else repository["id"],
            None if repository is None else repository["full_name"],
            content_type,
            body,
        ),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def statuses(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, tuple[str, str | None]]:
    """Every delivery's (status, reason) by id."""
    rows = conn.execute("SELECT id, status, reason FROM prmon.webhook_deliveries").fetchall()
    return {int(str(i)): (str(s), None if r is None else str(r)) for i, s, r in rows}
