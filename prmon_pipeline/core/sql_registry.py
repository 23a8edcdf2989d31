"""SQL text of the repository registry (``prmon.repositories``), built like ``core.sql_text``.

A repository is GitHub's id; ``owner/name`` is how the user refers to it. When a name comes to
mean another repository, the old row is *retired* (``retired_at``, ``retired_reason``): it keeps
its name, its PRs and their history, and the name's new repository gets a row of its own. So every
statement that looks a repository up by name, or lists the registry, sees live rows only
(:data:`LIVE`); a statement by row id may still reach a retired row, whose history stays readable.

Every value is a ``%(name)s`` parameter; identifiers are quoted by ``sql_text.quote_ident``.
"""

from __future__ import annotations

from prmon_pipeline.core.sql_text import column_list, qualified

REPOSITORY_COLUMNS: tuple[str, ...] = (
    "id",
    "owner",
    "name",
    "full_name",
    "github_id",
    "active",
    "failure_count",
    "last_error",
    "last_attempt_at",
    "last_success_at",
    "retired_at",
    "retired_reason",
)
"""The columns every registry read returns, in the field order of ``Repository``."""

LIVE = "retired_at IS NULL"
"""The predicate of live rows; also the predicate of the partial unique indexes (migration 003)."""

REPOSITORY_STATE_TABLES: tuple[str, ...] = ("sync_cursors", "check_run_etags")
"""Sync state of one repository: dropped when it is replaced, so the new one starts cold."""

OPTIONAL_STATE_TABLES: tuple[str, ...] = ("check_run_failures",)
"""Sync state in tables a later migration adds (002): dropped too when they exist."""

RETIRED_PULL_REQUEST_REASON = "repository replaced"


def _returning() -> str:
    return f" RETURNING {column_list(REPOSITORY_COLUMNS)}"


def add_repository_sql() -> str:
    """Register ``owner/name``, or reactivate its live row; a retired row of the name is left be.

    A row an ``owner/*`` pattern added becomes one registered by name too (migration 005), so
    the pattern can no longer deactivate it.

    The conflict target names the partial index's predicate, which is how PostgreSQL infers a
    partial unique index: https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT
    """
    return (
        f"INSERT INTO {qualified('repositories')} (owner, name, full_name)"
        " VALUES (%(owner)s, %(name)s, %(full_name)s)"
        f" ON CONFLICT ((lower(full_name))) WHERE {LIVE} DO UPDATE SET active = true,"
        " added_explicitly = true, inactive_reason = NULL" + _returning()
    )


def get_repository_sql() -> str:
    """The live row of ``%(full_name)s``, compared case-insensitively as GitHub does."""
    return (
        f"SELECT {column_list(REPOSITORY_COLUMNS)} FROM {qualified('repositories')}"
        f" WHERE lower(full_name) = lower(%(full_name)s) AND {LIVE}"
    )


def get_repository_by_id_sql() -> str:
    """One row by id, retired or not."""
    return (
        f"SELECT {column_list(REPOSITORY_COLUMNS)} FROM {qualified('repositories')}"
        " WHERE id = %(repository_id)s"
    )


def list_repositories_sql(*, include_inactive: bool = False, include_retired: bool = False) -> str:
    """The registry by name: active live rows, or also removed ones, or also retired ones.

    A retired row follows the live row of its name, older retirements last.
    """
    if include_retired:
        where = ""
    elif include_inactive:
        where = f" WHERE {LIVE}"
    else:
        where = f" WHERE active AND {LIVE}"
    return (
        f"SELECT {column_list(REPOSITORY_COLUMNS)} FROM {qualified('repositories')}{where}"
        " ORDER BY full_name, retired_at DESC NULLS FIRST, id"
    )


def deactivate_repository_sql() -> str:
    """Stop mirroring one row (``prmon repos remove``); its rows stay.

    ``%(inactive_reason)s`` tells a person's removal from a pattern's (migration 005): a pattern
    never reactivates what a person removed.
    """
    return (
        f"UPDATE {qualified('repositories')} SET active = false,"
        " inactive_reason = %(inactive_reason)s WHERE id = %(repository_id)s"
    )


def delete_repository_sql() -> str:
    """Delete one row and, by cascade, everything stored for it (``--purge``)."""
    return f"DELETE FROM {qualified('repositories')} WHERE id = %(repository_id)s"


def rename_repository_sql() -> str:
    """Follow a rename GitHub reported (301) on a live row: same id, new name."""
    return (
        f"UPDATE {qualified('repositories')}"
        " SET owner = %(owner)s, name = %(name)s, full_name = %(full_name)s"
        f" WHERE id = %(repository_id)s AND {LIVE}"
    )


def set_github_id_sql() -> str:
    """Record the GitHub id of a live row on first sighting; never overwrite a different one.

    Zero rows updated means the row is retired, unknown, or already holds another id (then the
    name now means another repository: that is a replacement, not an update).
    """
    return (
        f"UPDATE {qualified('repositories')} SET github_id = %(github_id)s"
        f" WHERE id = %(repository_id)s AND {LIVE}"
        " AND (github_id IS NULL OR github_id = %(github_id)s)"
    )


def lock_registry_row_sql() -> str:
    """Lock one live row for the replacement, so two replacements cannot interleave."""
    return (
        f"SELECT {column_list(REPOSITORY_COLUMNS)} FROM {qualified('repositories')}"
        f" WHERE id = %(repository_id)s AND {LIVE} FOR UPDATE"
    )


def retire_pull_requests_sql() -> str:
    """Soft-delete every PR of the old row not deleted yet, with the reason."""
    return (
        f"UPDATE {qualified('pull_requests')}"
        " SET deleted_at = %(now)s, deleted_reason = %(pull_request_reason)s"
        " WHERE repository_id = %(repository_id)s AND deleted_at IS NULL"
    )


def existing_tables_sql() -> str:
    """Which of ``%(tables)s`` (a text[] of quoted, qualified names) exist.

    ``to_regclass`` answers NULL for a missing table instead of raising, so one statement serves
    databases with and without a later migration applied.
    """
    return "SELECT t FROM unnest(%(tables)s::text[]) AS t WHERE to_regclass(t) IS NOT NULL"


def optional_state_tables() -> dict[str, str]:
    """Each optional sync-state table by the qualified name :func:`existing_tables_sql` takes."""
    return {qualified(table): table for table in OPTIONAL_STATE_TABLES}


def delete_repository_state_sql(table: str) -> str:
    """Drop one repository's rows of a sync-state table (cursors, ETags, refused SHAs)."""
    if table not in REPOSITORY_STATE_TABLES + OPTIONAL_STATE_TABLES:
        raise ValueError(f"{table!r} is not a sync-state table of a repository")
    return f"DELETE FROM {qualified(table)} WHERE repository_id = %(repository_id)s"


def live_holder_of_github_id_sql() -> str:
    """The live row, if any, that already holds GitHub id ``%(github_id)s``."""
    return (
        f"SELECT id, full_name FROM {qualified('repositories')}"
        f" WHERE github_id = %(github_id)s AND {LIVE}"
    )


def retire_repository_sql() -> str:
    """Retire the old row: inactive, when and why; it keeps its name, id and history."""
    return (
        f"UPDATE {qualified('repositories')}"
        " SET active = false, retired_at = %(now)s, retired_reason = %(reason)s"
        f" WHERE id = %(repository_id)s AND {LIVE}"
    )


def insert_replacement_sql() -> str:
    """The new live row of the same name, for the repository that now bears it.

    It inherits the old row's origin (an ``owner/*`` pattern, or by name: migration 005), so a
    repository deleted and re-created under a pattern stays the pattern's.
    """
    return (
        f"INSERT INTO {qualified('repositories')}"
        " (owner, name, full_name, github_id, added_by_pattern_id, added_explicitly)"
        " SELECT %(owner)s, %(name)s, %(full_name)s, %(github_id)s, added_by_pattern_id,"
        f" added_explicitly FROM {qualified('repositories')} WHERE id = %(repository_id)s"
        + _returning()
    )
