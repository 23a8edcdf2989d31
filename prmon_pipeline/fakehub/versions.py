"""REST API versions: 2022-11-28 (default, what the world renders) and 2026-03-10.

2026-03-10 removes ``merge_commit_sha`` and ``assignee`` from pull requests,
``has_downloads`` and ``use_squash_pr_title_as_default`` from nested repositories and ``rate``
from ``GET /rate_limit`` (https://docs.github.com/en/rest/about-the-rest-api/breaking-changes).
It is derived from the default body per request: uncached, because syncs pin 2022-11-28.
"""

from __future__ import annotations

from typing import Any

import orjson

DEFAULT = "2022-11-28"
NEWEST = "2026-03-10"
SUPPORTED = (DEFAULT, NEWEST)
_PR_KEYS = ("merge_commit_sha", "assignee")
_REPO_KEYS = ("has_downloads", "use_squash_pr_title_as_default")


def _strip_repo(repo: Any) -> None:
    if isinstance(repo, dict):
        for key in _REPO_KEYS:
            repo.pop(key, None)


def _strip_pr(pr: dict[str, Any]) -> None:
    for key in _PR_KEYS:
        pr.pop(key, None)
    for side in ("head", "base"):
        if isinstance(pr.get(side), dict):
            _strip_repo(pr[side].get("repo"))


def to_newest(route: str, body: bytes) -> bytes:
    """Rewrite a 2022-11-28 body of ``route`` into its 2026-03-10 shape."""
    doc = orjson.loads(body)
    if route == "pulls":
        for pr in doc:
            _strip_pr(pr)
    elif route == "pull":
        _strip_pr(doc)
    elif route == "repo":
        _strip_repo(doc)
    elif route == "rate_limit":
        doc.pop("rate", None)
    return orjson.dumps(doc)
