"""The one rule for state transitions, and the Polars and SQL forms derived from it."""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from prmon_pipeline.core import state_history
from prmon_pipeline.core.schemas import PR_STATES
from prmon_pipeline.core.state_history import (
    RECORDED_TRANSITIONS,
    is_recorded_transition,
    recorded_transition_expr,
    recorded_transition_sql,
)

PAIRS = [(None, new) for new in PR_STATES] + list(itertools.product(PR_STATES, PR_STATES))


def test_the_rule_is_first_sight_or_a_move_that_does_not_leave_merged() -> None:
    expected = {
        (None, "open"),
        (None, "closed"),
        (None, "merged"),
        ("open", "closed"),
        ("open", "merged"),
        ("closed", "open"),
        ("closed", "merged"),
    }
    assert expected == RECORDED_TRANSITIONS
    assert not is_recorded_transition("merged", "open")
    assert not is_recorded_transition("merged", "closed")
    assert not is_recorded_transition("open", "open")


def test_the_polars_expression_agrees_with_the_rule_on_every_pair() -> None:
    frame = pl.DataFrame(
        {"a": [a for a, _ in PAIRS], "b": [b for _, b in PAIRS]},
        schema={"a": pl.String, "b": pl.String},
    )
    got = frame.select(recorded_transition_expr(pl.col("a"), pl.col("b")).alias("r"))["r"]
    assert got.to_list() == [is_recorded_transition(a, b) for a, b in PAIRS]


def test_the_sql_form_lists_exactly_the_rules_pairs() -> None:
    text = recorded_transition_sql("p.state", "t.state")
    assert text == (
        "(CASE WHEN p.state IS NULL THEN t.state IN ('closed', 'merged', 'open')"
        " ELSE (p.state, t.state) IN (('closed', 'merged'), ('closed', 'open'),"
        " ('open', 'closed'), ('open', 'merged')) END)"
    )


@pytest.mark.parametrize("bad", ["x'; --", "MERGED"])
def test_sql_literals_are_only_the_schemas_states(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_history, "RECORDED_TRANSITIONS", frozenset({(None, bad)}))
    with pytest.raises(ValueError, match="not a pull request state"):
        state_history.recorded_transition_sql("a", "b")
