"""Arrow schemas: the single source of truth for the columns the pipeline moves.

Every stage speaks these schemas: discovery parses GitHub JSON into them, the snapshot reader
reads the warehouse back into them, the changeset compares two tables of the same schema, and the
loader's staging tables and MERGE column lists are generated from them. The SQL migrations are
checked against them by a test, so a column added here and not in ``sql/`` fails the suite.

Timestamps are microseconds in UTC (PostgreSQL ``timestamptz`` precision); GitHub ids are int64
(some already exceed 2**31).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
TEXT = pa.large_string()
TEXT_LIST = pa.large_list(pa.field("item", TEXT, nullable=False))

PR_STATES = ("open", "closed", "merged")
CHECK_RUN_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CHECK_RUN_CONCLUSIONS = (
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "stale",
    "startup_failure",
)


def arrow_schema(fields: list[pa.Field[Any]]) -> pa.Schema:
    """``pa.schema`` for a list of fields of mixed types.

    pyarrow-stubs type each field by its data type, so a literal list of fields infers as
    ``list[object]`` and ``pa.schema`` rejects it; a parameter typed once fixes the inference.
    """
    return pa.schema(fields)


PULL_REQUEST_SCHEMA = arrow_schema(
    [
        pa.field("number", pa.int64(), nullable=False),
        pa.field("github_id", pa.int64(), nullable=False),
        pa.field("title", TEXT, nullable=False),
        pa.field("body", TEXT),
        pa.field("state", TEXT, nullable=False),
        pa.field("draft", pa.bool_(), nullable=False),
        pa.field("author_login", TEXT),
        pa.field("base_ref", TEXT, nullable=False),
        pa.field("base_sha", TEXT, nullable=False),
        pa.field("head_ref", TEXT, nullable=False),
        pa.field("head_sha", TEXT, nullable=False),
        pa.field("head_repo_full_name", TEXT),
        pa.field("labels", TEXT_LIST, nullable=False),
        pa.field("assignees", TEXT_LIST, nullable=False),
        pa.field("html_url", TEXT, nullable=False),
        pa.field("created_at", TIMESTAMP, nullable=False),
        pa.field("updated_at", TIMESTAMP, nullable=False),
        pa.field("closed_at", TIMESTAMP),
        pa.field("merged_at", TIMESTAMP),
    ]
)
"""One row per pull request of one repository, as GitHub last showed it.

``state`` is normalised: ``merged`` when GitHub says closed and ``merged_at`` is set.
``labels`` holds label names sorted; ``assignees`` holds logins sorted, so that order never
counts as a change.
"""

PULL_REQUEST_KEY = ("number",)

CHECK_RUN_SCHEMA = arrow_schema(
    [
        pa.field("pr_number", pa.int64(), nullable=False),
        pa.field("github_id", pa.int64(), nullable=False),
        pa.field("head_sha", TEXT, nullable=False),
        pa.field("name", TEXT, nullable=False),
        pa.field("status", TEXT, nullable=False),
        pa.field("conclusion", TEXT),
        pa.field("app_slug", TEXT),
        pa.field("details_url", TEXT),
        pa.field("started_at", TIMESTAMP),
        pa.field("completed_at", TIMESTAMP),
        pa.field("output_title", TEXT),
        pa.field("output_summary", TEXT),
    ]
)
"""One row per (pull request, check run): a run on a head SHA shared by two PRs is one row each."""

CHECK_RUN_KEY = ("pr_number", "github_id")

DIGEST = pa.large_binary()
DIGEST_FIELD = pa.field("digest", DIGEST)
"""A stored row's digest of its compared fields (``core.digests``); NULL when unknown, which
only means "read the full row"."""

STORED_PULL_REQUEST_SCHEMA = PULL_REQUEST_SCHEMA.append(DIGEST_FIELD)
"""A pull request as the load writes it: the row and its digest."""

STORED_CHECK_RUN_SCHEMA = CHECK_RUN_SCHEMA.append(DIGEST_FIELD)
"""A check run as the load writes it: the row and its digest."""

PULL_REQUEST_DIGEST_SCHEMA = arrow_schema(
    [pa.field("number", pa.int64(), nullable=False), DIGEST_FIELD]
)
"""What a digest-first snapshot reads of each stored pull request."""

CHECK_RUN_DIGEST_SCHEMA = arrow_schema(
    [
        pa.field("pr_number", pa.int64(), nullable=False),
        pa.field("github_id", pa.int64(), nullable=False),
        DIGEST_FIELD,
    ]
)
"""What a digest-first snapshot reads of each stored check run."""

PULL_REQUEST_COLUMNS: tuple[str, ...] = tuple(PULL_REQUEST_SCHEMA.names)
CHECK_RUN_COLUMNS: tuple[str, ...] = tuple(CHECK_RUN_SCHEMA.names)


def empty_pull_requests() -> pa.Table:
    """An empty table of pull requests (a repository with none, or nothing changed)."""
    return PULL_REQUEST_SCHEMA.empty_table()


def empty_check_runs() -> pa.Table:
    """An empty table of check runs."""
    return CHECK_RUN_SCHEMA.empty_table()
