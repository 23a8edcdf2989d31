"""The registry of repositories to mirror: ``prmon.repositories`` rows (one per partition)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.repo_key import RepoKey, parse_repo_key

Conn = psycopg.Connection[tuple[object, ...]]

_COLUMNS = (
    "id, owner, name, full_name, github_id, active, failure_count, last_error,"
    " last_attempt_at, last_success_at"
)


@dataclass(frozen=True)
class Repository:
    """One registered repository and its sync health."""

    id: int
    owner: str
    name: str
    full_name: str
    github_id: int | None
    active: bool
    failure_count: int
    last_error: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None


def _repository(row: tuple[object, ...]) -> Repository:
    return Repository(*row)  # type: ignore[arg-type]  # columns are listed in field order


def add_repository(conn: Conn, key: RepoKey | str) -> Repository:
    """Register a repository, or reactivate it if it was removed; idempotent."""
    key = parse_repo_key(key) if isinstance(key, str) else key
    row = conn.execute(
        "INSERT INTO prmon.repositories (owner, name, full_name) VALUES (%s, %s, %s)"
        " ON CONFLICT ((lower(full_name))) DO UPDATE SET active = true"
        f" RETURNING {_COLUMNS}",
        (key.owner, key.name, key.full_name),
    ).fetchone()
    assert row is not None
    return _repository(row)


def remove_repository(conn: Conn, key: RepoKey | str, *, purge: bool = False) -> Repository:
    """Stop mirroring a repository; with ``purge`` delete it and all its rows (cascade)."""
    repository = get_repository(conn, key)
    if purge:
        conn.execute("DELETE FROM prmon.repositories WHERE id = %s", (repository.id,))
    else:
        conn.execute("UPDATE prmon.repositories SET active = false WHERE id = %s", (repository.id,))
    return repository


def get_repository(conn: Conn, key: RepoKey | str) -> Repository:
    """The registered repository for ``owner/name`` (case-insensitive), or a clear error."""
    key = parse_repo_key(key) if isinstance(key, str) else key
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM prmon.repositories WHERE lower(full_name) = lower(%s)",
        (key.full_name,),
    ).fetchone()
    if row is None:
        raise ConfigurationError(
            f"repository {key} is not registered; add it with: prmon repos add {key}"
        )
    return _repository(row)


def list_repositories(conn: Conn, *, include_inactive: bool = False) -> list[Repository]:
    """Registered repositories, by name; only active ones unless asked otherwise."""
    where = "" if include_inactive else " WHERE active"
    rows = conn.execute(f"SELECT {_COLUMNS} FROM prmon.repositories{where} ORDER BY full_name")
    return [_repository(row) for row in rows.fetchall()]


def rename_repository(conn: Conn, repository_id: int, new_full_name: str) -> None:
    """Follow a rename GitHub reported (301), keeping the rows and their history."""
    key = parse_repo_key(new_full_name)
    conn.execute(
        "UPDATE prmon.repositories SET owner = %s, name = %s, full_name = %s WHERE id = %s",
        (key.owner, key.name, key.full_name, repository_id),
    )
