"""Validation of ``owner/repo`` partition keys before they reach a URL, a path or SQL.

GitHub's rules: an owner (user or organisation login) is 1-39 characters of ASCII letters,
digits and single hyphens, not starting or ending with a hyphen; a repository name is 1-100
characters of ASCII letters, digits, ``.``, ``-`` and ``_``, and may not be ``.`` or ``..``.
Logins created long ago may contain a hyphen at the end or two in a row, so those are allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prmon_pipeline.core.errors import InvalidRepositoryKeyError

_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True, order=True)
class RepoKey:
    """A validated repository key; ``str(key)`` is the canonical ``owner/name`` form."""

    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def full_name(self) -> str:
        return str(self)


def is_valid_owner(owner: str) -> bool:
    """True when ``owner`` is a login GitHub allows (user or organisation)."""
    return _OWNER.fullmatch(owner) is not None


def parse_repo_key(text: str) -> RepoKey:
    """Parse and validate ``owner/repo``; raise :class:`InvalidRepositoryKeyError` otherwise."""
    if not isinstance(text, str):
        raise InvalidRepositoryKeyError(f"repository must be 'owner/name', got {text!r}")
    parts = text.strip().split("/")
    if len(parts) != 2:
        raise InvalidRepositoryKeyError(f"repository must be 'owner/name', got {text!r}")
    owner, name = parts
    if not _OWNER.fullmatch(owner):
        raise InvalidRepositoryKeyError(f"invalid GitHub owner {owner!r} in {text!r}")
    if not _NAME.fullmatch(name) or name in {".", ".."}:
        raise InvalidRepositoryKeyError(f"invalid GitHub repository name {name!r} in {text!r}")
    return RepoKey(owner, name)
