"""What a pattern refresh decides, from listings and registry rows alone (no database)."""

from __future__ import annotations

from prmon_pipeline.core.pattern_plan import (
    ARCHIVED,
    FORK,
    GONE,
    PATTERN_REMOVED,
    REMOVED,
    PatternRule,
    RegistryEntry,
    Rename,
    RowChange,
    plan_pattern_refresh,
)
from prmon_pipeline.core.repo_key import RepoKey
from prmon_pipeline.core.repo_pattern import ListedRepository

PATTERN = PatternRule(id=1, owner="acme")


def listed(
    name: str, github_id: int, *, archived: bool = False, fork: bool = False
) -> ListedRepository:
    owner, repo = name.split("/")
    return ListedRepository(github_id, RepoKey(owner, repo), archived=archived, fork=fork)


def row(
    row_id: int,
    name: str,
    github_id: int | None,
    *,
    active: bool = True,
    pattern: int | None = 1,
    explicit: bool = False,
    reason: str | None = None,
    archived: bool = False,
) -> RegistryEntry:
    return RegistryEntry(row_id, name, github_id, active, pattern, explicit, reason, archived)


def test_new_repositories_are_added_except_forks_and_archived_ones() -> None:
    listing = [
        listed("acme/a", 10),
        listed("acme/old", 11, archived=True),
        listed("acme/copy", 12, fork=True),
    ]
    plan = plan_pattern_refresh(PATTERN, listing, [])
    assert [r.full_name for r in plan.additions] == ["acme/a"]
    assert not plan.deactivations and not plan.reactivations
    with_flags = PatternRule(id=1, owner="acme", include_forks=True, include_archived=True)
    everything = plan_pattern_refresh(with_flags, listing, [])
    assert [r.full_name for r in everything.additions] == ["acme/a", "acme/old", "acme/copy"]


def test_an_unchanged_listing_plans_nothing() -> None:
    plan = plan_pattern_refresh(PATTERN, [listed("acme/a", 10)], [row(5, "acme/a", 10)])
    assert not plan.changed and not plan.claims and not plan.archived and not plan.github_ids


def test_archived_and_gone_repositories_of_the_pattern_are_deactivated() -> None:
    registry = [row(5, "acme/a", 10), row(6, "acme/b", 11), row(7, "acme/c", 12)]
    plan = plan_pattern_refresh(
        PATTERN, [listed("acme/a", 10, archived=True), listed("acme/c", 12)], registry
    )
    assert plan.deactivations == [RowChange(5, "acme/a", ARCHIVED), RowChange(6, "acme/b", GONE)]
    assert plan.archived == [(5, True)]
    assert not plan.additions


def test_repositories_added_by_name_are_never_deactivated_or_claimed() -> None:
    registry = [
        row(5, "acme/a", 10, pattern=None, explicit=True),
        row(6, "acme/b", 11, pattern=1, explicit=True),  # added by the pattern, then by name
    ]
    plan = plan_pattern_refresh(PATTERN, [listed("acme/a", 10, archived=True)], registry)
    assert not plan.deactivations and not plan.claims
    assert plan.archived == [(5, True)]  # the flag is still recorded


def test_a_returning_repository_is_reactivated_but_not_one_a_person_removed() -> None:
    registry = [
        row(5, "acme/a", 10, active=False, reason=ARCHIVED),
        row(6, "acme/b", 11, active=False, reason=GONE),
        row(7, "acme/c", 12, active=False, reason=REMOVED),
        row(8, "acme/d", 13, active=False, pattern=None, reason=PATTERN_REMOVED),
        row(9, "acme/e", 14, active=False, pattern=None, explicit=True, reason=REMOVED),
    ]
    listing = [listed(f"acme/{n}", i) for n, i in zip("abcde", range(10, 15), strict=True)]
    plan = plan_pattern_refresh(PATTERN, listing, registry)
    assert plan.reactivations == [
        RowChange(5, "acme/a"),
        RowChange(6, "acme/b"),
        RowChange(8, "acme/d"),
    ]
    assert plan.claims == [8]  # the row of a removed pattern joins the new one
    assert not plan.additions and not plan.deactivations


def test_a_rename_is_followed_by_id_and_a_transfer_in_is_claimed() -> None:
    registry = [
        row(5, "acme/old-name", 10),
        row(6, "other/moved", 20, pattern=2),  # another pattern's, transferred into acme
    ]
    listing = [listed("acme/new-name", 10), listed("acme/moved", 20)]
    plan = plan_pattern_refresh(PATTERN, listing, registry)
    assert plan.renames == [
        Rename(5, "acme/old-name", "acme/new-name"),
        Rename(6, "other/moved", "acme/moved"),
    ]
    assert plan.claims == [6]
    assert not plan.additions and not plan.deactivations


def test_a_row_without_an_id_learns_it_and_a_name_held_by_another_id_is_left_alone() -> None:
    registry = [row(5, "acme/a", None, pattern=None, explicit=True), row(6, "acme/b", 99)]
    plan = plan_pattern_refresh(PATTERN, [listed("ACME/a", 10), listed("acme/b", 11)], registry)
    assert plan.github_ids == [(5, 10)]
    assert plan.renames == [Rename(5, "acme/a", "ACME/a")]  # GitHub's spelling of the name
    assert not plan.additions  # acme/b's name is taken by a row of another id: the sync replaces
    assert len(plan.skipped) == 1 and "acme/b" in plan.skipped[0]
    assert not plan.deactivations  # stays active: its next sync retires it, registers id 11


def test_a_rename_into_a_registered_name_is_not_applied() -> None:
    registry = [row(5, "acme/a", 10), row(6, "acme/b", None, pattern=None, explicit=True)]
    plan = plan_pattern_refresh(PATTERN, [listed("acme/b", 10)], registry)
    assert not plan.renames and plan.skipped
    assert not plan.deactivations  # row 5 is still listed, under the other name


def test_another_patterns_rows_are_not_touched() -> None:
    registry = [row(5, "beta/a", 10, pattern=2), row(6, "acme/fork", 11, pattern=2)]
    plan = plan_pattern_refresh(PATTERN, [listed("acme/fork", 11, fork=True)], registry)
    assert not plan.changed and not plan.claims


def test_forks_leave_when_the_pattern_no_longer_wants_them() -> None:
    registry = [row(5, "acme/copy", 10)]
    plan = plan_pattern_refresh(PATTERN, [listed("acme/copy", 10, fork=True)], registry)
    assert plan.deactivations == [RowChange(5, "acme/copy", FORK)]
