"""The registry of repositories to mirror: ``prmon.repositories`` rows (one per partition).

A repository is GitHub's id; the name is how the user refers to it. Lookups by name see live rows
only; a row retired by :func:`replace_repository` keeps its name and history for the record. SQL
text in ``core/sql_registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from prmon_pipeline.core import sql_registry
from prmon_pipeline.core.errors import ConfigurationError, WarehouseError
from prmon_pipeline.core.pattern_plan import REMOVED
from prmon_pipeline.core.repo_key import RepoKey, parse_repo_key

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class Repository:
    """One registered repository and its sync health (fields in ``REPOSITORY_COLUMNS`` order).

    ``github_id`` is None until the first sync saw the repository on GitHub. ``retired_at`` is
    set when the name came to mean another GitHub repository and this row was kept as history.
    """

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
    retired_at: datetime | None = None
    retired_reason: str | None = None

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


def _repository(row: tuple[object, ...] | None) -> Repository:
    assert row is not None
    return Repository(*row)  # type: ignore[arg-type]  # columns are listed in field order


def _key(key: RepoKey | str) -> RepoKey:
    return parse_repo_key(key) if isinstance(key, str) else key


def _name_params(key: RepoKey) -> dict[str, object]:
    return {"owner": key.owner, "name": key.name, "full_name": key.full_name}


def add_repository(conn: Conn, key: RepoKey | str) -> Repository:
    """Register a repository, or reactivate it if it was removed; idempotent."""
    row = conn.execute(sql_registry.add_repository_sql(), _name_params(_key(key))).fetchone()
    return _repository(row)


def remove_repository(conn: Conn, key: RepoKey | str, *, purge: bool = False) -> Repository:
    """Stop mirroring a repository; with ``purge`` delete it and all its rows (cascade).

    Only the live row of the name: retired rows of the same name stay as they are.
    """
    repository = get_repository(conn, key)
    statement = (
        sql_registry.delete_repository_sql() if purge else sql_registry.deactivate_repository_sql()
    )
    conn.execute(statement, {"repository_id": repository.id, "inactive_reason": REMOVED})
    return repository


def get_repository(conn: Conn, key: RepoKey | str) -> Repository:
    """The live repository for ``owner/name`` (case-insensitive), or a clear error."""
    key = _key(key)
    row = conn.execute(sql_registry.get_repository_sql(), {"full_name": key.full_name}).fetchone()
    if row is None:
        raise ConfigurationError(
            f"repository {key} is not registered; add it with: prmon repos add {key}"
        )
    return _repository(row)


def list_repositories(
    conn: Conn, *, include_inactive: bool = False, include_retired: bool = False
) -> list[Repository]:
    """Registered repositories, by name: active live ones unless asked otherwise.

    ``include_inactive`` adds removed ones; ``include_retired`` adds those an identity change
    retired too (each after the live row of its name).
    """
    query = sql_registry.list_repositories_sql(
        include_inactive=include_inactive, include_retired=include_retired
    )
    return [_repository(row) for row in conn.execute(query).fetchall()]


def rename_repository(conn: Conn, repository_id: int, new_full_name: str) -> None:
    """Follow a rename GitHub reported (301), keeping the rows and their history."""
    params = {**_name_params(parse_repo_key(new_full_name)), "repository_id": repository_id}
    conn.execute(sql_registry.rename_repository_sql(), params)


def set_github_id(conn: Conn, repository_id: int, github_id: int) -> None:
    """Record the GitHub id of a live repository the first time a sync sees it (idempotent).

    Refuses to overwrite another id: the name then means another repository, which is
    :func:`replace_repository`'s business.
    """
    params = {"repository_id": repository_id, "github_id": github_id}
    if conn.execute(sql_registry.set_github_id_sql(), params).rowcount == 0:
        raise WarehouseError(
            f"repository row {repository_id}: cannot record GitHub id {github_id}"
            " (the row is retired, unknown, or holds another id: replace it instead)"
        )


def replace_repository(
    conn: Conn, repository: Repository, *, new_github_id: int, reason: str, now: datetime
) -> Repository:
    """Retire ``repository`` and register the repository that now bears its name; one transaction.

    The old row's PRs not yet deleted are soft-deleted with the reason; its sync cursors, check-run
    ETags and refused SHAs (``check_run_failures``, when migration 002 is applied) are dropped so
    nothing of the old repository steers the new one's first, cold sync; the row becomes inactive
    and retired, keeping its name, PRs, check runs and history. Returns the new, active row.

    Refused (nothing changes) when the row is no longer live, or when ``new_github_id`` is
    already registered under another live name: that repository was renamed into this name,
    which the caller must resolve (follow the rename), not replace.
    """
    params: dict[str, object] = {
        "repository_id": repository.id,
        "now": now,
        "reason": reason,
        "pull_request_reason": f"{sql_registry.RETIRED_PULL_REQUEST_REASON}: {reason}",
    }
    with conn.transaction():
        locked = conn.execute(sql_registry.lock_registry_row_sql(), params).fetchone()
        if locked is None:
            raise WarehouseError(
                f"{repository.full_name}: row {repository.id} is no longer live; not replaced"
            )
        old = _repository(locked)
        holder = conn.execute(
            sql_registry.live_holder_of_github_id_sql(), {"github_id": new_github_id}
        ).fetchone()
        if holder is not None:
            raise WarehouseError(
                f"{old.full_name}: GitHub repository {new_github_id} is already registered as"
                f" {holder[1]} (row {holder[0]}); a rename into this name, not a replacement"
            )
        conn.execute(sql_registry.retire_pull_requests_sql(), params)
        for table in (*sql_registry.REPOSITORY_STATE_TABLES, *_existing_optional_tables(conn)):
            conn.execute(sql_registry.delete_repository_state_sql(table), params)
        conn.execute(sql_registry.retire_repository_sql(), params)
        row = conn.execute(
            sql_registry.insert_replacement_sql(),
            {
                **_name_params(_key(old.full_name)),
                "github_id": new_github_id,
                "repository_id": old.id,
            },
        ).fetchone()
    return _repository(row)


def _existing_optional_tables(conn: Conn) -> list[str]:
    """The optional sync-state tables (added by later migrations) this database has."""
    optional = sql_registry.optional_state_tables()
    rows = conn.execute(sql_registry.existing_tables_sql(), {"tables": list(optional)}).fetchall()
    return [optional[str(row[0])] for row in rows]
