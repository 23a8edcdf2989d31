"""Relay connections over ordered lists: ``first``/``last``/``after``/``before``, opaque cursors.

A cursor names the item's ``databaseId`` (base64 of ``cursor:v2:<id>``), not its position, so a
run created between two pages does not shift the next page (GitHub's cursors behave the same
way for check runs, which are ordered newest first).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

Item = TypeVar("Item")
JSON = dict[str, Any]
_PREFIX = "cursor:v2:"


class GitHubError(Exception):
    """An error entry GitHub reports with a ``type`` (``NOT_FOUND``, ``RESOURCE_LIMITS_...``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def cursor(key: int) -> str:
    """The opaque cursor of the item whose ``databaseId`` is ``key``."""
    return base64.b64encode(f"{_PREFIX}{key}".encode()).decode()


def cursor_key(value: str, argument: str) -> int:
    """The ``databaseId`` a cursor names; GitHub's error for anything else."""
    try:
        text = base64.b64decode(value.encode(), validate=True).decode()
        if text.startswith(_PREFIX):
            return int(text[len(_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise GitHubError(
        "INVALID_CURSOR_ARGUMENTS", f"`{argument}` does not appear to be a valid cursor."
    )


def connection(
    items: Sequence[Item],
    key: Callable[[Item], int],
    descending: bool,
    to_source: Callable[[Item], JSON],
    args: dict[str, Any],
) -> JSON:
    """A ``...Connection`` source over ``items`` (already filtered and in serving order)."""

    def before_key(a: int, b: int) -> bool:  # does a come before b in serving order
        return a > b if descending else a < b

    window = list(items)
    after, before = args.get("after"), args.get("before")
    if after is not None:
        mark = cursor_key(after, "after")
        window = [i for i in window if before_key(mark, key(i))]
    if before is not None:
        mark = cursor_key(before, "before")
        window = [i for i in window if before_key(key(i), mark)]
    first, last = args.get("first"), args.get("last")
    if first is not None:
        window = window[: max(0, first)]
    if last is not None:
        window = window[max(0, len(window) - last) :] if last > 0 else []
    sources = [to_source(i) for i in window]
    keys = [key(i) for i in window]
    has_next = bool(keys) and any(before_key(keys[-1], key(i)) for i in items[-1:])
    has_previous = bool(keys) and any(before_key(key(i), keys[0]) for i in items[:1])
    return {
        "totalCount": len(items),
        "nodes": sources,
        "edges": lambda _info: [
            {"cursor": cursor(k), "node": s} for k, s in zip(keys, sources, strict=True)
        ],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursor(keys[0]) if keys else None,
            "endCursor": cursor(keys[-1]) if keys else None,
        },
    }
