"""What one refresh of an ``owner/*`` pattern changes in the registry: a pure decision.

Given the pattern's options, the owner's listing and the live registry rows, decide which
repositories to add, rename, reactivate or deactivate. The rules, so that a pattern never takes
away what a person asked for:

- A row registered by name (``added_explicitly``) is never deactivated or claimed by a pattern;
  a row a person removed by name (``inactive_reason = 'removed'``) is never reactivated by one.
- A listed repository the pattern wants (forks and archived ones only with the options) that has
  no row gets one, owned by the pattern (``added_by_pattern_id``).
- A pattern-added row whose repository is archived (without ``--archived``), a fork (without
  ``--forks``) or gone from the listing (deleted, or transferred to another owner) is deactivated
  with that reason, and reactivated when the repository is wanted again.
- Rows are matched by GitHub id first, then by name. Same id under a new name is a rename
  (followed, as the sync follows a 301); a name whose row holds another id now means another
  repository, which the sync's replacement handles, so the pattern leaves it alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prmon_pipeline.core.repo_pattern import ListedRepository

REMOVED = "removed"
"""Deactivated by a person (``prmon repos remove``, or the partition deleted in the UI)."""
ARCHIVED = "archived"
FORK = "fork"
GONE = "gone from the owner's listing"
PATTERN_REMOVED = "pattern removed"
REACTIVATABLE = frozenset({ARCHIVED, FORK, GONE, PATTERN_REMOVED})
"""Reasons a pattern may undo; ``removed`` (a person's decision) is not one of them."""


@dataclass(frozen=True)
class PatternRule:
    """A registered pattern: its row id, owner and options."""

    id: int
    owner: str
    include_forks: bool = False
    include_archived: bool = False

    def wants(self, repository: ListedRepository) -> bool:
        return (self.include_forks or not repository.fork) and (
            self.include_archived or not repository.archived
        )

    def unwanted_reason(self, repository: ListedRepository) -> str:
        return ARCHIVED if repository.archived and not self.include_archived else FORK


@dataclass(frozen=True)
class RegistryEntry:
    """The part of a live ``prmon.repositories`` row that the decision reads."""

    id: int
    full_name: str
    github_id: int | None
    active: bool
    added_by_pattern_id: int | None = None
    added_explicitly: bool = True
    inactive_reason: str | None = None
    archived: bool = False


@dataclass(frozen=True)
class RowChange:
    """One row and what happens to it (``reason`` for deactivations)."""

    row_id: int
    full_name: str
    reason: str | None = None


@dataclass(frozen=True)
class Rename:
    row_id: int
    old_full_name: str
    new_full_name: str


@dataclass
class PatternPlan:
    """Everything one refresh writes; empty lists mean nothing to do."""

    additions: list[ListedRepository] = field(default_factory=list)
    renames: list[Rename] = field(default_factory=list)
    reactivations: list[RowChange] = field(default_factory=list)
    deactivations: list[RowChange] = field(default_factory=list)
    claims: list[int] = field(default_factory=list)
    """Rows not registered by name that this pattern now owns (listed under it)."""
    github_ids: list[tuple[int, int]] = field(default_factory=list)
    """(row id, GitHub id) for rows that had no id yet."""
    archived: list[tuple[int, bool]] = field(default_factory=list)
    """(row id, archived) where the listing's flag differs from the row's."""
    skipped: list[str] = field(default_factory=list)
    """One line per listed repository left alone, with the reason."""

    @property
    def changed(self) -> bool:
        return bool(self.additions or self.renames or self.reactivations or self.deactivations)


def plan_pattern_refresh(
    pattern: PatternRule,
    listing: Iterable[ListedRepository],
    registry: Iterable[RegistryEntry],
) -> PatternPlan:
    """Decide what a refresh of ``pattern`` writes; see the module docstring for the rules."""
    rows = list(registry)
    by_id = {row.github_id: row for row in rows if row.github_id is not None}
    by_name = {row.full_name.lower(): row for row in rows}
    plan = PatternPlan()
    matched: set[int] = set()
    for repository in listing:
        row = _match(repository, by_id, by_name, plan)
        if row is None:
            holder = by_name.get(repository.full_name.lower())
            if holder is not None:
                matched.add(holder.id)  # kept active, so that its next sync replaces it
            elif pattern.wants(repository):
                plan.additions.append(repository)
            continue
        matched.add(row.id)
        _follow(pattern, repository, row, by_name, plan)
    for row in rows:
        owned = row.added_by_pattern_id == pattern.id and not row.added_explicitly
        if owned and row.active and row.id not in matched:
            plan.deactivations.append(RowChange(row.id, row.full_name, GONE))
    return plan


def _match(
    repository: ListedRepository,
    by_id: dict[int, RegistryEntry],
    by_name: dict[str, RegistryEntry],
    plan: PatternPlan,
) -> RegistryEntry | None:
    """The row of this repository: by GitHub id, else by a name whose row has no other id."""
    row = by_id.get(repository.github_id)
    if row is not None:
        return row
    row = by_name.get(repository.full_name.lower())
    if row is None:
        return None
    if row.github_id is not None:
        plan.skipped.append(
            f"{repository.full_name}: the registered row holds GitHub id {row.github_id}, the"
            f" listing {repository.github_id}; the next sync of it resolves the replacement"
        )
        return None
    plan.github_ids.append((row.id, repository.github_id))
    return row


def _follow(
    pattern: PatternRule,
    repository: ListedRepository,
    row: RegistryEntry,
    by_name: dict[str, RegistryEntry],
    plan: PatternPlan,
) -> None:
    """Bring one matched row in line with the listing: name, archived flag, owner, activity."""
    name = row.full_name
    if name != repository.full_name:
        holder = by_name.get(repository.full_name.lower())
        if holder is not None and holder.id != row.id:
            plan.skipped.append(
                f"{row.full_name}: renamed on GitHub to {repository.full_name}, a name another"
                f" registered row (id {holder.id}) holds; not renamed"
            )
        else:
            plan.renames.append(Rename(row.id, row.full_name, repository.full_name))
            name = repository.full_name
    if row.archived != repository.archived:
        plan.archived.append((row.id, repository.archived))
    if row.added_explicitly:
        return
    wanted = pattern.wants(repository)
    claimable = row.active or row.inactive_reason in REACTIVATABLE
    if wanted and row.added_by_pattern_id != pattern.id and claimable:
        plan.claims.append(row.id)
    owned = wanted or row.added_by_pattern_id == pattern.id
    if not owned:
        return
    if wanted and not row.active and row.inactive_reason in REACTIVATABLE:
        plan.reactivations.append(RowChange(row.id, name))
    elif not wanted and row.active:
        plan.deactivations.append(RowChange(row.id, name, pattern.unwanted_reason(repository)))
