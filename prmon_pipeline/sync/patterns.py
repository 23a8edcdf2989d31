"""Following ``owner/*`` patterns: list each owner, then bring the registry in line.

One service for ``prmon repos add|refresh`` and the Dagster registry sensor. The listing comes
from an :data:`~prmon_pipeline.github.listing.OwnerLister` (REST by default; an App
installation's listing can be passed instead), and a failed listing never changes the registry:
it is recorded on the pattern (``last_error``) and the next refresh tries again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from prmon_pipeline.core.errors import PrmonError
from prmon_pipeline.core.repo_pattern import RepoPattern
from prmon_pipeline.github.listing import OwnerLister
from prmon_pipeline.warehouse.patterns import (
    Conn,
    Pattern,
    PatternChanges,
    add_pattern,
    apply_listing,
    list_patterns,
    record_refresh_error,
)

PATTERN_REFRESH_INTERVAL = timedelta(minutes=10)
"""How often the registry sensor lists each owner again: a listing of 100 repositories is one
request, and a new repository waiting ten minutes for its first sync is in line with the hourly
refresh schedule."""


async def add_and_refresh(
    conn: Conn,
    pattern: RepoPattern,
    lister: OwnerLister,
    *,
    include_forks: bool,
    include_archived: bool,
    now: datetime,
) -> PatternChanges:
    """Register ``owner/*`` and add its repositories now.

    The owner is listed first, so an owner GitHub does not know (or a token that cannot see it)
    is refused before anything is written.
    """
    listing = await lister(pattern.owner)
    registered = add_pattern(
        conn, pattern, include_forks=include_forks, include_archived=include_archived
    )
    return apply_listing(
        conn, registered, listing.repositories, owner_type=listing.owner_type, now=now
    )


async def refresh_patterns(
    conn: Conn, lister: OwnerLister, patterns: Iterable[Pattern], *, now: datetime
) -> list[PatternChanges]:
    """List each pattern's owner and apply it; one owner's failure never stops the others."""
    results: list[PatternChanges] = []
    for pattern in patterns:
        try:
            listing = await lister(pattern.owner)
        except PrmonError as exc:
            record_refresh_error(conn, pattern, str(exc), now)
            results.append(PatternChanges(pattern=str(pattern), error=str(exc)))
            continue
        results.append(
            apply_listing(
                conn, pattern, listing.repositories, owner_type=listing.owner_type, now=now
            )
        )
    return results


def due_patterns(
    conn: Conn, now: datetime, interval: timedelta = PATTERN_REFRESH_INTERVAL
) -> list[Pattern]:
    """Patterns never refreshed, or whose last refresh (or failure) is older than ``interval``."""

    def last_try(pattern: Pattern) -> datetime | None:
        tries = [t for t in (pattern.last_refreshed_at, pattern.last_error_at) if t is not None]
        return max(tries, default=None)

    return [
        p for p in list_patterns(conn) if (tried := last_try(p)) is None or now - tried >= interval
    ]
