"""Injectable failures per route: 5xx (JSON or HTML), slow answers, resets, broken JSON,
and items that are gone.

GitHub answers 5xx with JSON ``{"message": "Server Error"}`` or an HTML page, terminates
requests slower than 10 s, and connections drop (GITHUB-API.md sections 6 and 10.7). Faults
fire with a seeded probability so a run with the same ``fault_seed`` fails the same requests.

``no_commit`` is what GitHub answers for the check runs of a commit that a force-push and
garbage collection removed, while a PR may still name it: 422 ``No commit found for SHA: …``.
``404`` is GitHub's ``Not Found`` (a PR deleted between two requests, say). Both are meant for
one item: give ``ref`` (the route's argument, a SHA for ``check_runs``, a number for ``pull``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

ROUTES = (
    "pulls",
    "pull",
    "check_runs",
    "suite_check_runs",
    "check_run",
    "repo",
    "rate_limit",
    "graphql",
    "*",
)
KINDS = (
    "500",
    "502",
    "503",
    "504",
    "html_500",
    "html_502",
    "html_503",
    "html_504",
    "slow",
    "reset",
    "truncated",
    "malformed",
    "no_commit",
    "404",
)

_JSON_BODIES = {
    500: b'{"message":"Server Error"}',
    502: b'{"message":"Server Error"}',
    503: b'{"code":"service_unavailable","message":"Service Unavailable",'
    b'"documentation_url":"https://docs.github.com/rest"}',
    504: b'{"message":"We couldn\'t respond to your request in time. Sorry about that. '
    b'Please try resubmitting your request and contact us if the problem persists."}',
}

HTML_BODY = (
    b"<!DOCTYPE html>\n<html>\n<head><meta charset='utf-8'><title>Unicorn! &middot; GitHub</title>"
    b"</head>\n<body>\n<p><strong>We had issues producing the response to your request.</strong>"
    b"</p>\n<p>Sorry about that. Please try refreshing and contact us if the problem persists.</p>"
    b"\n</body>\n</html>\n"
)


@dataclass(slots=True)
class FaultSpec:
    """Inject ``kind`` on ``route`` with probability ``rate``, at most ``count`` times.

    ``delay`` is the extra latency of ``slow`` faults in seconds (default just over GitHub's
    10 s cut-off, so a client with a 10 s timeout times out). ``ref`` limits the fault to
    requests whose route argument is exactly this (one SHA's check runs on every page, one PR
    number), so one item fails while the rest of the repository answers.
    """

    route: str = "*"
    kind: str = "500"
    rate: float = 1.0
    count: int | None = None
    delay: float = 10.5
    ref: str | None = None

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"unknown fault route {self.route!r}; one of {ROUTES}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {KINDS}")


class CountedFault(Protocol):
    """A fault spec that fires with probability ``rate``, at most ``count`` times."""

    rate: float
    count: int | None


def fires(spec: CountedFault, specs: list[Any], rng: random.Random) -> bool:
    """Whether ``spec`` fires now: drawn against its rate, then counted down and taken out of
    ``specs`` once spent (the caller stops iterating ``specs`` when it fires)."""
    if spec.rate < 1.0 and rng.random() >= spec.rate:
        return False
    if spec.count is not None:
        spec.count -= 1
        if spec.count <= 0:
            specs.remove(spec)
    return True


def error_body(kind: str) -> tuple[int, bytes, bytes]:
    """Status, content type and body of a 5xx fault."""
    if kind.startswith("html_"):
        return int(kind[5:]), b"text/html; charset=utf-8", HTML_BODY
    status = int(kind)
    return status, b"application/json; charset=utf-8", _JSON_BODIES[status]


def truncate(body: bytes) -> bytes:
    """A prefix of the body: valid HTTP, invalid JSON (an interrupted upstream)."""
    return body[: max(1, len(body) // 2)]


def malform(body: bytes) -> bytes:
    """Syntactically broken JSON of similar size."""
    cut = max(1, len(body) // 3)
    return body[:cut] + b',,}{"unterminated' + body[cut : cut + 16]


class FaultInjector:
    """The active fault specs; ``pick`` decides (seeded) whether a request fails and how."""

    def __init__(self, seed: int = 0) -> None:
        self.specs: list[FaultSpec] = []
        self.rng = random.Random(seed)

    def add(self, spec: FaultSpec) -> FaultSpec:
        """Activate a fault; returns it so a test can ``remove`` it later."""
        self.specs.append(spec)
        return spec

    def remove(self, spec: FaultSpec) -> None:
        """Deactivate one fault."""
        self.specs.remove(spec)

    def clear(self) -> None:
        """Deactivate all faults."""
        self.specs.clear()

    def pick(self, route: str, arg: str = "") -> FaultSpec | None:
        """The fault to inject on this request, if any (first matching spec that fires).

        ``arg`` is the route's argument (a SHA, a PR number), matched against a spec's ``ref``.
        """
        for spec in self.specs:
            if spec.route not in ("*", route):
                continue
            if spec.ref is not None and spec.ref != arg:
                continue
            if fires(spec, self.specs, self.rng):
                return spec
        return None
