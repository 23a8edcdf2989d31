"""``owner/*`` patterns on a real PostgreSQL: listings applied, rows added by name protected,
a person's removal respected, renames followed, the pattern removed."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.repo_key import RepoKey
from prmon_pipeline.core.repo_pattern import ListedRepository, RepoPattern
from prmon_pipeline.warehouse.patterns import (
    Pattern,
    add_pattern,
    apply_listing,
    get_pattern,
    list_patterns,
    record_refresh_error,
    remove_pattern,
    repository_sources,
)
from prmon_pipeline.warehouse.repositories import (
    add_repository,
    get_repository,
    list_repositories,
    remove_repository,
    replace_repository,
)

Conn = psycopg.Connection[tuple[object, ...]]
NOW = datetime(2026, 3, 1, tzinfo=UTC)
_IDS = itertools.count(uuid.uuid4().int % 10**12)  # the session's tests share one database


@pytest.fixture
def owner() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def listed(owner: str, name: str, github_id: int, **flags: bool) -> ListedRepository:
    return ListedRepository(
        github_id, RepoKey(owner, name), flags.get("archived", False), flags.get("fork", False)
    )


def active_names(conn: Conn, owner: str) -> set[str]:
    return {r.full_name for r in list_repositories(conn) if r.owner == owner}


def test_a_listing_adds_then_follows_archive_deletion_and_return(db: Conn, owner: str) -> None:
    pattern = add_pattern(db, RepoPattern(owner), include_forks=False, include_archived=False)
    a, b, c, fork = (next(_IDS) for _ in range(4))
    first = [listed(owner, "a", a), listed(owner, "b", b), listed(owner, "fork", fork, fork=True)]
    changes = apply_listing(db, pattern, first, owner_type="Organization", now=NOW)
    assert changes.added == [f"{owner}/a", f"{owner}/b"] and changes.listed == 3
    assert active_names(db, owner) == {f"{owner}/a", f"{owner}/b"}
    assert get_repository(db, f"{owner}/a").github_id == a

    second = [listed(owner, "a", a, archived=True), listed(owner, "c", c)]
    changes = apply_listing(db, pattern, second, owner_type="Organization", now=NOW)
    assert changes.added == [f"{owner}/c"]
    assert changes.deactivated == [
        (f"{owner}/a", "archived"),
        (f"{owner}/b", "gone from the owner's listing"),
    ]
    assert active_names(db, owner) == {f"{owner}/c"}

    third = [listed(owner, "a", a), listed(owner, "b", b), listed(owner, "c", c)]
    changes = apply_listing(db, pattern, third, owner_type="Organization", now=NOW)
    assert changes.reactivated == [f"{owner}/a", f"{owner}/b"] and not changes.added
    assert active_names(db, owner) == {f"{owner}/a", f"{owner}/b", f"{owner}/c"}
    again = apply_listing(db, pattern, third, owner_type="Organization", now=NOW)
    assert not again.changed
    (stored,) = [p for p in list_patterns(db) if p.owner == owner]
    assert stored.last_refreshed_at == NOW and stored.owner_type == "Organization"


def test_rows_added_by_name_stay_and_a_persons_removal_sticks(db: Conn, owner: str) -> None:
    by_name = add_repository(db, f"{owner}/kept")
    pattern = add_pattern(db, RepoPattern(owner), include_forks=False, include_archived=False)
    kept, dropped = next(_IDS), next(_IDS)
    listing = [listed(owner, "kept", kept), listed(owner, "dropped", dropped)]
    apply_listing(db, pattern, listing, owner_type="Organization", now=NOW)
    assert get_repository(db, f"{owner}/kept").github_id == kept  # learned from the listing
    remove_repository(db, f"{owner}/dropped")

    changes = apply_listing(db, pattern, [], owner_type="Organization", now=NOW)
    assert changes.deactivated == []  # kept: by name; dropped: already removed by a person
    assert active_names(db, owner) == {f"{owner}/kept"}
    changes = apply_listing(db, pattern, listing, owner_type="Organization", now=NOW)
    assert not changes.reactivated and active_names(db, owner) == {f"{owner}/kept"}

    sources = repository_sources(db)
    assert sources[by_name.id].added_explicitly and sources[by_name.id].pattern_owner is None
    dropped_row = next(
        r for r in list_repositories(db, include_inactive=True) if r.name == "dropped"
    )
    assert sources[dropped_row.id].pattern_owner == owner
    assert sources[dropped_row.id].inactive_reason == "removed"
    add_repository(db, f"{owner}/dropped")  # added by name now: the pattern can't drop it
    apply_listing(db, pattern, [], owner_type="Organization", now=NOW)
    assert active_names(db, owner) == {f"{owner}/kept", f"{owner}/dropped"}


def test_a_rename_on_github_renames_the_row(db: Conn, owner: str) -> None:
    pattern = add_pattern(db, RepoPattern(owner), include_forks=False, include_archived=False)
    ident = next(_IDS)
    apply_listing(db, pattern, [listed(owner, "old", ident)], owner_type="User", now=NOW)
    row = get_repository(db, f"{owner}/old")
    changes = apply_listing(db, pattern, [listed(owner, "new", ident)], owner_type="User", now=NOW)
    assert changes.renamed == [(f"{owner}/old", f"{owner}/new")] and not changes.added
    assert get_repository(db, f"{owner}/new").id == row.id


def test_removing_the_pattern_deactivates_its_rows_and_adding_it_again_brings_them_back(
    db: Conn, owner: str
) -> None:
    pattern = add_pattern(db, RepoPattern(owner), include_forks=True, include_archived=False)
    add_repository(db, f"{owner}/by-name")
    listing = [
        listed(owner, "x", next(_IDS)),
        listed(owner, "y", next(_IDS), fork=True),
        listed(owner, "by-name", next(_IDS)),
    ]
    apply_listing(db, pattern, listing, owner_type="Organization", now=NOW)
    assert remove_pattern(db, pattern) == [f"{owner}/x", f"{owner}/y"]
    assert active_names(db, owner) == {f"{owner}/by-name"}
    with pytest.raises(ConfigurationError, match=r"not registered; add it with: prmon repos add"):
        get_pattern(db, RepoPattern(owner))

    again = add_pattern(db, RepoPattern(owner.upper()), include_forks=False, include_archived=False)
    changes = apply_listing(db, again, listing, owner_type="Organization", now=NOW)
    assert changes.reactivated == [f"{owner}/x"]  # the fork stays out without --forks
    assert active_names(db, owner) == {f"{owner}/x", f"{owner}/by-name"}
    assert (
        repository_sources(db)[get_repository(db, f"{owner}/x").id].pattern_owner == owner.upper()
    )


def test_options_change_in_place_and_errors_are_kept(db: Conn, owner: str) -> None:
    first = add_pattern(db, RepoPattern(owner), include_forks=False, include_archived=False)
    second = add_pattern(db, RepoPattern(owner.upper()), include_forks=True, include_archived=True)
    assert (second.id, second.owner) == (first.id, owner)  # one pattern per owner
    assert (second.include_forks, second.include_archived) == (True, True)
    record_refresh_error(db, second, "acme: GET /orgs/acme/repos: 502", NOW)
    stored: Pattern = get_pattern(db, RepoPattern(owner))
    assert stored.last_error == "acme: GET /orgs/acme/repos: 502" and stored.last_error_at == NOW
    apply_listing(db, stored, [], owner_type="Organization", now=NOW)
    assert get_pattern(db, RepoPattern(owner)).last_error is None


def test_a_replaced_repository_stays_the_patterns(db: Conn, owner: str) -> None:
    pattern = add_pattern(db, RepoPattern(owner), include_forks=False, include_archived=False)
    apply_listing(db, pattern, [listed(owner, "x", next(_IDS))], owner_type="User", now=NOW)
    old = get_repository(db, f"{owner}/x")
    new = replace_repository(db, old, new_github_id=next(_IDS), reason="re-created", now=NOW)
    source = repository_sources(db)[new.id]
    assert (source.pattern_owner, source.added_explicitly) == (owner, False)
    by_name = add_repository(db, f"{owner}/y")
    again = replace_repository(db, by_name, new_github_id=next(_IDS), reason="re-created", now=NOW)
    assert repository_sources(db)[again.id].added_explicitly
