"""The ``owner/*`` side of ``prmon repos``: add, refresh, remove and show patterns."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from prmon_pipeline.cli.output import print_table, stdout
from prmon_pipeline.cli.settings import Conn, Settings
from prmon_pipeline.core.repo_pattern import RepoPattern
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.listing import OwnerLister, owner_lister
from prmon_pipeline.sync import utc_now
from prmon_pipeline.sync.patterns import add_and_refresh, refresh_patterns
from prmon_pipeline.warehouse.patterns import (
    Pattern,
    PatternChanges,
    get_pattern,
    list_patterns,
    remove_pattern,
)

T = TypeVar("T")


def with_lister(settings: Settings, work: Callable[[OwnerLister], Awaitable[T]]) -> T:
    """Run ``work`` with the owner lister of these settings: the App installation's listing
    with GitHub App auth, else the owner's REST listing (``GITHUB_TOKEN`` or anonymous)."""

    async def run() -> T:
        async with GitHubClient(settings.github()) as client:
            return await work(owner_lister(client))

    return asyncio.run(run())


def add_patterns(
    conn: Conn,
    settings: Settings,
    patterns: Sequence[RepoPattern],
    *,
    include_forks: bool,
    include_archived: bool,
) -> list[PatternChanges]:
    async def work(lister: OwnerLister) -> list[PatternChanges]:
        return [
            await add_and_refresh(
                conn,
                pattern,
                lister,
                include_forks=include_forks,
                include_archived=include_archived,
                now=utc_now(),
            )
            for pattern in patterns
        ]

    return with_lister(settings, work)


def refresh(conn: Conn, settings: Settings, owners: Sequence[RepoPattern]) -> list[PatternChanges]:
    """Refresh the named patterns, or every pattern when none is named."""
    patterns = [get_pattern(conn, p) for p in owners] if owners else list_patterns(conn)
    if not patterns:
        return []

    async def work(lister: OwnerLister) -> list[PatternChanges]:
        return await refresh_patterns(conn, lister, patterns, now=utc_now())

    return with_lister(settings, work)


def remove(conn: Conn, patterns: Sequence[RepoPattern]) -> None:
    for key in patterns:
        pattern = get_pattern(conn, key)
        deactivated = remove_pattern(conn, pattern)
        stdout.print(
            f"removed pattern {pattern}; deactivated {len(deactivated)} repositories it added",
            markup=False,
            highlight=False,
        )
        for name in deactivated:
            stdout.print(f"  deactivated {name}", markup=False, highlight=False)


def print_changes(changes: Sequence[PatternChanges], verb: str) -> None:
    """One line per pattern, then one per repository that changed."""
    for change in changes:
        if change.error is not None:
            stdout.print(f"{change.pattern}: FAILED: {change.error}", markup=False)
            continue
        summary = (
            f"{verb} {change.pattern}: {change.listed} listed, {len(change.added)} added,"
            f" {len(change.deactivated)} deactivated, {len(change.reactivated)} reactivated,"
            f" {len(change.renamed)} renamed"
        )
        lines = [summary]
        lines += [f"  added {name}" for name in change.added]
        lines += [f"  renamed {old} -> {new}" for old, new in change.renamed]
        lines += [f"  reactivated {name}" for name in change.reactivated]
        lines += [f"  deactivated {name} ({reason})" for name, reason in change.deactivated]
        lines += [f"  left alone: {line}" for line in change.skipped]
        stdout.print("\n".join(lines), markup=False, highlight=False)


def changes_as_dict(change: PatternChanges) -> dict[str, object]:
    return {
        "pattern": change.pattern,
        "listed": change.listed,
        "added": change.added,
        "renamed": [{"from": old, "to": new} for old, new in change.renamed],
        "reactivated": change.reactivated,
        "deactivated": [{"repository": n, "reason": r} for n, r in change.deactivated],
        "skipped": change.skipped,
        "error": change.error,
    }


def pattern_as_dict(pattern: Pattern) -> dict[str, object]:
    return {
        "pattern": str(pattern),
        "owner_type": pattern.owner_type,
        "include_forks": pattern.include_forks,
        "include_archived": pattern.include_archived,
        "created_at": pattern.created_at,
        "last_refreshed_at": pattern.last_refreshed_at,
        "last_error": pattern.last_error,
    }


def print_patterns(patterns: Sequence[Pattern]) -> None:
    print_table(
        "patterns",
        ["pattern", "owner type", "forks", "archived", "last refreshed", "last error"],
        [
            (
                str(p),
                p.owner_type,
                p.include_forks,
                p.include_archived,
                p.last_refreshed_at,
                p.last_error,
            )
            for p in patterns
        ],
    )
