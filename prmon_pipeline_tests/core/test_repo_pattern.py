"""``owner/*`` patterns: what is accepted, what is refused (one line each), listing items."""

from __future__ import annotations

import pytest

from prmon_pipeline.core.errors import InvalidRepositoryKeyError, MalformedResponseError
from prmon_pipeline.core.repo_key import RepoKey
from prmon_pipeline.core.repo_pattern import (
    ListedRepository,
    RepoPattern,
    is_repo_pattern,
    parse_listed_repository,
    parse_repo_pattern,
)


@pytest.mark.parametrize("text", ["acme/*", " acme/* ", "a/*", "old-login-/*", "A-b-9/*"])
def test_owner_wildcards_are_patterns(text: str) -> None:
    pattern = parse_repo_pattern(text)
    assert pattern == RepoPattern(text.strip()[:-2])
    assert str(pattern) == f"{pattern.owner}/*"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("acme/w*", "must be 'owner/\\*'"),
        ("acme/*/x", "must be 'owner/\\*'"),
        ("acme/**", "must be 'owner/\\*'"),
        ("*", "must be 'owner/\\*'"),
        ("*/*", "invalid GitHub owner '\\*'"),
        ("/*", "invalid GitHub owner ''"),
        ("-acme/*", "invalid GitHub owner '-acme'"),
        ("ac me/*", "invalid GitHub owner 'ac me'"),
        ("acme;drop/*", "invalid GitHub owner"),
        ("a" * 40 + "/*", "invalid GitHub owner"),
    ],
)
def test_anything_else_is_refused_with_one_line(text: str, message: str) -> None:
    with pytest.raises(InvalidRepositoryKeyError, match=message) as caught:
        parse_repo_pattern(text)
    assert "\n" not in str(caught.value)


def test_only_arguments_with_a_star_are_routed_to_patterns() -> None:
    assert is_repo_pattern("acme/*") and is_repo_pattern("acme/w*")
    assert not is_repo_pattern("acme/widgets")


def test_a_listing_item_keeps_id_name_and_flags() -> None:
    item = {"id": 2**40, "full_name": "Acme/Widgets", "archived": True, "fork": False, "x": 1}
    assert parse_listed_repository(item) == ListedRepository(
        github_id=2**40, key=RepoKey("Acme", "Widgets"), archived=True, fork=False
    )
    assert parse_listed_repository({"id": 1, "full_name": "a/b", "fork": True}).archived is False


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"full_name": "a/b", "fork": False}, "lacks 'id'"),
        ({"id": "7", "full_name": "a/b", "fork": False}, "not an integer"),
        ({"id": True, "full_name": "a/b", "fork": False}, "not an integer"),
        ({"id": 7, "full_name": "a/b", "fork": "no"}, "not booleans"),
        ({"id": 7, "full_name": "a/../b", "fork": False}, "owner/name"),
    ],
)
def test_malformed_items_name_the_owner_and_the_field(
    item: dict[str, object], message: str
) -> None:
    with pytest.raises(MalformedResponseError, match=message) as caught:
        parse_listed_repository(item, "acme")
    assert str(caught.value).startswith("acme: ")
