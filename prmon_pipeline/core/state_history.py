"""The one rule for which state changes of a pull request enter its history.

A dry run reports the transitions the Polars changeset finds; a real load writes
``pr_state_history`` in SQL inside its transaction. Both are derived from
:data:`RECORDED_TRANSITIONS` here (:func:`recorded_transition_expr` for Polars,
:func:`recorded_transition_sql` for SQL), so they cannot disagree.

``merged`` is terminal. A merge closes a PR for good: GitHub offers reopening only for closed,
unmerged pull requests, a merge cannot be undone (a revert is a new PR), and ``merged_at`` never
goes back to null. A row that says otherwise did not come from GitHub's
present: a replay of old rows, a simulator, a bug. Such a row still updates the PR (GitHub is
the source of truth, and the field change is reported), but the history does not record an
impossible transition.
"""

from __future__ import annotations

import polars as pl

from prmon_pipeline.core.schemas import PR_STATES

TERMINAL_STATES: frozenset[str] = frozenset({"merged"})
"""States a PR never leaves on GitHub."""

RECORDED_TRANSITIONS: frozenset[tuple[str | None, str]] = frozenset(
    {(None, state) for state in PR_STATES}  # first sight: from nothing to any state
    | {
        (old, new)
        for old in PR_STATES
        for new in PR_STATES
        if old != new and old not in TERMINAL_STATES
    }
)
"""Every (from, to) pair the history records; ``None`` as from is the first sight of a PR.

That is: first sight of any state, open→closed, closed→open, open→merged, closed→merged.
"""


def is_recorded_transition(from_state: str | None, to_state: str) -> bool:
    """Whether a PR seen in ``from_state`` (None: never seen) and now in ``to_state`` gets a
    history row."""
    return (from_state, to_state) in RECORDED_TRANSITIONS


def _first_sight_states() -> list[str]:
    return sorted(new for old, new in RECORDED_TRANSITIONS if old is None)


def _moves() -> list[tuple[str, str]]:
    return sorted((old, new) for old, new in RECORDED_TRANSITIONS if old is not None)


def recorded_transition_expr(from_state: pl.Expr, to_state: pl.Expr) -> pl.Expr:
    """The rule as a Polars expression over two string columns (null ``from_state``: first seen)."""
    moved = pl.any_horizontal(
        [(from_state == old) & (to_state == new) for old, new in _moves()]
    ).fill_null(value=False)
    first_sight = to_state.is_in(_first_sight_states()).fill_null(value=False)
    return pl.when(from_state.is_null()).then(first_sight).otherwise(moved)


def _state_literal(state: str) -> str:
    """A PR state as an SQL literal: one of the schema's constants, never input."""
    if state not in PR_STATES:
        raise ValueError(f"not a pull request state: {state!r}")
    return f"'{state}'"


def recorded_transition_sql(from_state: str, to_state: str) -> str:
    """The rule as an SQL boolean over two expressions (NULL ``from_state``: first sight).

    The states are the schema's constants, written as literals: the rule is part of the text,
    not a parameter of it.
    """
    first = ", ".join(_state_literal(state) for state in _first_sight_states())
    moves = ", ".join(f"({_state_literal(old)}, {_state_literal(new)})" for old, new in _moves())
    return (
        f"(CASE WHEN {from_state} IS NULL THEN {to_state} IN ({first})"
        f" ELSE ({from_state}, {to_state}) IN ({moves}) END)"
    )
