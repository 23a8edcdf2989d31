"""``owner/*`` patterns in the warehouse: register, list, remove, and apply one owner listing.

A listing is applied in one transaction under an advisory lock: the registry is read, the pure
``core.pattern_plan`` decides, and the statements of ``core.sql_patterns`` carry it out, so the CLI
and the Dagster sensor refreshing the same owner at once cannot both add one repository.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from prmon_pipeline.core import sql_patterns, sql_registry
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.pattern_plan import (
    PATTERN_REMOVED,
    PatternPlan,
    PatternRule,
    RegistryEntry,
    plan_pattern_refresh,
)
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.core.repo_pattern import ListedRepository, RepoPattern

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class Pattern:
    """One registered pattern (fields in ``PATTERN_COLUMNS`` order)."""

    id: int
    owner: str
    owner_type: str | None
    include_forks: bool
    include_archived: bool
    created_at: datetime
    last_refreshed_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None

    def __str__(self) -> str:
        return str(RepoPattern(self.owner))

    @property
    def rule(self) -> PatternRule:
        return PatternRule(self.id, self.owner, self.include_forks, self.include_archived)


@dataclass
class PatternChanges:
    """What one refresh changed in the registry, by repository name."""

    pattern: str
    added: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    deactivated: list[tuple[str, str]] = field(default_factory=list)
    """(name, reason)."""
    skipped: list[str] = field(default_factory=list)
    listed: int = 0
    error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.renamed or self.reactivated or self.deactivated)


@dataclass(frozen=True)
class RepositorySource:
    """Where a row came from: ``pattern`` (its owner) and/or by name; as last listed."""

    pattern_owner: str | None
    added_explicitly: bool
    archived: bool
    inactive_reason: str | None


def _pattern(row: tuple[object, ...] | None) -> Pattern:
    assert row is not None
    return Pattern(*row)  # type: ignore[arg-type]  # columns are listed in field order


def add_pattern(
    conn: Conn, pattern: RepoPattern, *, include_forks: bool, include_archived: bool
) -> Pattern:
    """Register ``owner/*`` or change its options (idempotent)."""
    params = {
        "owner": pattern.owner,
        "include_forks": include_forks,
        "include_archived": include_archived,
    }
    return _pattern(conn.execute(sql_patterns.upsert_pattern_sql(), params).fetchone())


def list_patterns(conn: Conn) -> list[Pattern]:
    return [_pattern(row) for row in conn.execute(sql_patterns.list_patterns_sql()).fetchall()]


def get_pattern(conn: Conn, pattern: RepoPattern) -> Pattern:
    """The registered pattern of the owner, or a clear error."""
    row = conn.execute(sql_patterns.get_pattern_sql(), {"owner": pattern.owner}).fetchone()
    if row is None:
        raise ConfigurationError(
            f"pattern {pattern} is not registered; add it with: prmon repos add '{pattern}'"
        )
    return _pattern(row)


def remove_pattern(conn: Conn, pattern: Pattern) -> list[str]:
    """Forget the pattern and deactivate the repositories it added (not those added by name).

    Returns the deactivated names. Their rows, PRs and history stay; adding the pattern again
    reactivates them.
    """
    params = {"pattern_id": pattern.id, "inactive_reason": PATTERN_REMOVED}
    with conn.transaction():
        rows = conn.execute(sql_patterns.deactivate_pattern_repositories_sql(), params).fetchall()
        conn.execute(sql_patterns.delete_pattern_sql(), params)
    return sorted(str(row[0]) for row in rows)


def record_refresh_error(conn: Conn, pattern: Pattern, error: str, now: datetime) -> None:
    """Keep the last failure of a listing on the pattern (the registry is left as it was)."""
    params = {"pattern_id": pattern.id, "error": error, "now": now}
    conn.execute(sql_patterns.record_error_sql(), params)


def registry_entries(conn: Conn) -> list[RegistryEntry]:
    rows = conn.execute(sql_patterns.registry_entries_sql()).fetchall()
    return [RegistryEntry(*row) for row in rows]  # type: ignore[arg-type]  # field order


def apply_listing(
    conn: Conn,
    pattern: Pattern,
    listing: Iterable[ListedRepository],
    *,
    owner_type: str | None,
    now: datetime,
) -> PatternChanges:
    """Bring the registry in line with one listing of the pattern's owner; one transaction."""
    listed = list(listing)
    with conn.transaction():
        conn.execute(sql_patterns.lock_registry_sql(), {"lock_key": sql_patterns.REGISTRY_LOCK_KEY})
        plan = plan_pattern_refresh(pattern.rule, listed, registry_entries(conn))
        _execute(conn, pattern, plan)
        params = {"pattern_id": pattern.id, "now": now, "owner_type": owner_type}
        conn.execute(sql_patterns.record_refresh_sql(), params)
    return PatternChanges(
        pattern=str(pattern),
        added=sorted(r.full_name for r in plan.additions),
        renamed=[(r.old_full_name, r.new_full_name) for r in plan.renames],
        reactivated=sorted(r.full_name for r in plan.reactivations),
        deactivated=sorted((r.full_name, r.reason or "") for r in plan.deactivations),
        skipped=plan.skipped,
        listed=len(listed),
    )


def _execute(conn: Conn, pattern: Pattern, plan: PatternPlan) -> None:
    """Carry out a plan: renames first (they free names), then flags, ownership, activity."""

    def run(statement: str, **params: object) -> None:
        conn.execute(statement, params)

    for rename in plan.renames:
        key = parse_repo_key(rename.new_full_name)
        run(
            sql_registry.rename_repository_sql(),
            owner=key.owner,
            name=key.name,
            full_name=key.full_name,
            repository_id=rename.row_id,
        )
    for row_id, github_id in plan.github_ids:
        run(sql_registry.set_github_id_sql(), repository_id=row_id, github_id=github_id)
    for row_id, archived in plan.archived:
        run(sql_patterns.set_archived_sql(), repository_id=row_id, archived=archived)
    for row_id in plan.claims:
        run(sql_patterns.claim_repository_sql(), repository_id=row_id, pattern_id=pattern.id)
    for repository in plan.additions:
        run(
            sql_patterns.add_pattern_repository_sql(),
            owner=repository.key.owner,
            name=repository.key.name,
            full_name=repository.full_name,
            github_id=repository.github_id,
            archived=repository.archived,
            pattern_id=pattern.id,
        )
    for change in plan.reactivations:
        run(
            sql_patterns.set_activity_sql(),
            repository_id=change.row_id,
            active=True,
            inactive_reason=None,
        )
    for change in plan.deactivations:
        run(
            sql_patterns.set_activity_sql(),
            repository_id=change.row_id,
            active=False,
            inactive_reason=change.reason,
        )


def repository_sources(conn: Conn) -> dict[int, RepositorySource]:
    """Each row's origin by row id, for ``prmon repos list``."""
    rows = conn.execute(sql_patterns.repository_sources_sql()).fetchall()
    return {int(row[0]): RepositorySource(*row[1:]) for row in rows}  # type: ignore[arg-type,call-overload]
