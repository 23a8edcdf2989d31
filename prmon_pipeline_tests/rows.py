"""Builders of Arrow rows in the project's schemas, for tests that need a few exact rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pull_request(number: int, **overrides: Any) -> dict[str, Any]:
    """One PR row with plausible defaults; ``overrides`` set any column."""
    row: dict[str, Any] = {
        "number": number,
        "github_id": 3_000_000_000 + number,
        "title": f"PR {number}",
        "body": f"body of {number}",
        "state": "open",
        "draft": False,
        "author_login": "octocat",
        "base_ref": "main",
        "base_sha": "b" * 40,
        "head_ref": f"feature-{number}",
        "head_sha": f"{number:040x}",
        "head_repo_full_name": "acme/widgets",
        "labels": [],
        "assignees": [],
        "html_url": f"https://github.com/acme/widgets/pull/{number}",
        "created_at": T0,
        "updated_at": T0 + timedelta(minutes=number),
        "closed_at": None,
        "merged_at": None,
    }
    row.update(overrides)
    return row


def check_run(pr_number: int, github_id: int, **overrides: Any) -> dict[str, Any]:
    """One check-run row on the PR's default head SHA."""
    row: dict[str, Any] = {
        "pr_number": pr_number,
        "github_id": github_id,
        "head_sha": f"{pr_number:040x}",
        "name": f"build ({github_id})",
        "status": "completed",
        "conclusion": "success",
        "app_slug": "github-actions",
        "details_url": f"https://example.test/runs/{github_id}",
        "started_at": T0,
        "completed_at": T0 + timedelta(minutes=3),
        "output_title": None,
        "output_summary": None,
    }
    row.update(overrides)
    return row


def pull_requests(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=PULL_REQUEST_SCHEMA)


def check_runs(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=CHECK_RUN_SCHEMA)
