"""SQL text of ``owner/*`` patterns (``prmon.repository_patterns``, migration 005).

Built like ``core.sql_registry``: tables through ``sql_text.qualified``, every value a
``%(name)s`` parameter. What a refresh writes is decided by ``core.pattern_plan``; these are the
statements that carry it out (``warehouse/patterns.py``).
"""

from __future__ import annotations

from prmon_pipeline.core.sql_registry import LIVE
from prmon_pipeline.core.sql_text import column_list, qualified

REGISTRY_LOCK_KEY = 0x70726D6F6E05
"""``pg_advisory_xact_lock`` key of pattern refreshes ("prmon" in ASCII, then migration 005)."""

PATTERN_COLUMNS: tuple[str, ...] = (
    "id",
    "owner",
    "owner_type",
    "include_forks",
    "include_archived",
    "created_at",
    "last_refreshed_at",
    "last_error",
    "last_error_at",
)
"""Every pattern read returns these, in the field order of ``warehouse.patterns.Pattern``."""

REGISTRY_ENTRY_COLUMNS: tuple[str, ...] = (
    "id",
    "full_name",
    "github_id",
    "active",
    "added_by_pattern_id",
    "added_explicitly",
    "inactive_reason",
    "archived",
)
"""The registry as a refresh reads it, in the field order of ``core.pattern_plan.RegistryEntry``."""


def upsert_pattern_sql() -> str:
    """Register a pattern, or change the options of the owner's pattern (one per owner)."""
    return (
        f"INSERT INTO {qualified('repository_patterns')} (owner, include_forks, include_archived)"
        " VALUES (%(owner)s, %(include_forks)s, %(include_archived)s)"
        " ON CONFLICT ((lower(owner))) DO UPDATE SET include_forks = EXCLUDED.include_forks,"
        " include_archived = EXCLUDED.include_archived"
        f" RETURNING {column_list(PATTERN_COLUMNS)}"
    )


def list_patterns_sql() -> str:
    """Every pattern, by owner."""
    return (
        f"SELECT {column_list(PATTERN_COLUMNS)} FROM {qualified('repository_patterns')}"
        " ORDER BY lower(owner)"
    )


def get_pattern_sql() -> str:
    """The pattern of ``%(owner)s``, compared case-insensitively as GitHub compares logins."""
    return (
        f"SELECT {column_list(PATTERN_COLUMNS)} FROM {qualified('repository_patterns')}"
        " WHERE lower(owner) = lower(%(owner)s)"
    )


def delete_pattern_sql() -> str:
    """Forget a pattern; its rows' ``added_by_pattern_id`` becomes NULL (foreign key)."""
    return f"DELETE FROM {qualified('repository_patterns')} WHERE id = %(pattern_id)s"


def record_refresh_sql() -> str:
    """A refresh succeeded: when, and what the owner turned out to be."""
    return (
        f"UPDATE {qualified('repository_patterns')} SET last_refreshed_at = %(now)s,"
        " owner_type = coalesce(%(owner_type)s, owner_type), last_error = NULL,"
        " last_error_at = NULL"
        " WHERE id = %(pattern_id)s"
    )


def record_error_sql() -> str:
    """A refresh failed (listing refused or unreachable); the registry is left as it was."""
    return (
        f"UPDATE {qualified('repository_patterns')} SET last_error = %(error)s,"
        " last_error_at = %(now)s WHERE id = %(pattern_id)s"
    )


def registry_entries_sql() -> str:
    """Every live row, as a refresh compares it with a listing.

    All owners, not only the pattern's: a repository transferred into the owner is found by its
    GitHub id under its old name.
    """
    return (
        f"SELECT {column_list(REGISTRY_ENTRY_COLUMNS)} FROM {qualified('repositories')}"
        f" WHERE {LIVE} ORDER BY id"
    )


def lock_registry_sql() -> str:
    """Serialise refreshes (CLI and sensor) on the registry for one transaction.

    A transaction-scoped advisory lock, so two refreshes of one owner cannot both insert the same
    new repository; released at commit or rollback.
    https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
    """
    return "SELECT pg_advisory_xact_lock(%(lock_key)s)"


def add_pattern_repository_sql() -> str:
    """A new row for a listed repository, owned by the pattern, with its GitHub id."""
    return (
        f"INSERT INTO {qualified('repositories')}"
        " (owner, name, full_name, github_id, archived, added_by_pattern_id, added_explicitly)"
        " VALUES (%(owner)s, %(name)s, %(full_name)s, %(github_id)s, %(archived)s,"
        " %(pattern_id)s, false) RETURNING id"
    )


def set_activity_sql() -> str:
    """Activate (reason NULL) or deactivate (with the reason) one live row."""
    return (
        f"UPDATE {qualified('repositories')} SET active = %(active)s,"
        f" inactive_reason = %(inactive_reason)s WHERE id = %(repository_id)s AND {LIVE}"
    )


def claim_repository_sql() -> str:
    """Make a row not registered by name the pattern's own (it is listed under its owner now)."""
    return (
        f"UPDATE {qualified('repositories')} SET added_by_pattern_id = %(pattern_id)s"
        f" WHERE id = %(repository_id)s AND NOT added_explicitly AND {LIVE}"
    )


def set_archived_sql() -> str:
    """Record the ``archived`` flag the listing showed."""
    return (
        f"UPDATE {qualified('repositories')} SET archived = %(archived)s"
        f" WHERE id = %(repository_id)s AND {LIVE}"
    )


def deactivate_pattern_repositories_sql() -> str:
    """On ``repos remove 'OWNER/*'``: deactivate the rows the pattern added, not those by name."""
    return (
        f"UPDATE {qualified('repositories')} SET active = false,"
        " inactive_reason = %(inactive_reason)s"
        f" WHERE added_by_pattern_id = %(pattern_id)s AND NOT added_explicitly AND active"
        f" AND {LIVE} RETURNING full_name"
    )


def repository_sources_sql() -> str:
    """Where each row came from, for ``prmon repos list``: by name, by which pattern, or both."""
    return (
        "SELECT r.id, p.owner, r.added_explicitly, r.archived, r.inactive_reason"
        f" FROM {qualified('repositories')} AS r"
        f" LEFT JOIN {qualified('repository_patterns')} AS p ON p.id = r.added_by_pattern_id"
    )
