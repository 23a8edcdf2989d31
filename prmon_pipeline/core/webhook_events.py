"""Webhook deliveries of one repository → the Arrow tables a poll produces (pure).

A ``pull_request`` delivery embeds the REST pull-request object and a ``check_run`` delivery the
REST check-run object (``shared/GITHUB-WEBHOOKS.md`` §4), so the poll's own parsers
(``core.github_json``) turn them into ``PULL_REQUEST_SCHEMA`` / ``CHECK_RUN_SCHEMA`` rows. What a
poll never has to decide is decided here, because GitHub neither orders nor de-duplicates
deliveries (§1):

* per PR the newest ``updated_at`` wins; an older record is *out of order*, an identical one a
  *duplicate*; equal ``updated_at`` with different content cannot be ordered from the payloads
  (one-second resolution), so that PR is polled instead (§7.3);
* per check run the highest status rank wins (``sql_text.CHECK_RUN_STATUS_RANK``); equal rank with
  different content → that run is fetched (§7.5);
* a run is attached to every PR whose head is its ``head_sha`` — the warehouse's heads plus the
  PRs of the same batch — never to ``check_run.pull_requests``, which is empty for forks (§7.6);
  a run no PR points at yet is *parked* (left pending) for ``PARK_WINDOW``, then ignored: polling
  covers it;
* ``check_suite.completed`` and a record the parser refuses become a poll of that SHA (or PR);
* ``repository`` ``renamed``/``transferred`` become a registry move; other events and actions are
  ignored with a reason, a body that is not a JSON object is rejected.

Deliveries are few per repository and round, and each needs its own verdict, so the ordering
walks records in Python; the tables themselves are built column-wise by the parsers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import pyarrow as pa

from prmon_pipeline.core.webhook_signature import decode_delivery_body

PULL_REQUEST_ACTIONS = frozenset(
    {
        "assigned", "auto_merge_disabled", "auto_merge_enabled", "closed", "converted_to_draft",
        "demilestoned", "dequeued", "edited", "enqueued", "labeled", "locked", "milestoned",
        "opened", "ready_for_review", "reopened", "review_request_removed", "review_requested",
        "synchronize", "unassigned", "unlabeled", "unlocked",
    }
)  # fmt: skip
"""GitHub.com's ``pull_request`` actions ([OWH] 12.1.0); every one embeds the whole PR."""
CHECK_RUN_ACTIONS = frozenset({"created", "completed", "rerequested", "requested_action"})
REPOSITORY_MOVES = frozenset({"renamed", "transferred"})
APPLIED_EVENTS = frozenset({"pull_request", "check_run", "check_suite", "repository"})
PARK_WINDOW = timedelta(minutes=10)
"""How long a check run waits for a PR with its head SHA (its PR event may come later)."""
COMMIT_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
"""A commit SHA (SHA-1, or SHA-256 repositories): what may go into a poll's URL and into SQL."""

Outcome = Literal["applied", "duplicate", "out_of_order", "polled", "parked", "ignored", "rejected"]
DeliveryStatus = Literal["applied", "pending", "ignored", "rejected"]
_STATUS: dict[Outcome, DeliveryStatus] = {
    "applied": "applied",
    "duplicate": "applied",
    "out_of_order": "applied",
    "polled": "applied",
    "parked": "pending",
    "ignored": "ignored",
    "rejected": "rejected",
}


@dataclass(frozen=True)
class PendingDelivery:
    """One stored delivery as the applier reads it (``prmon.webhook_deliveries``)."""

    id: int
    event: str
    action: str | None
    body: bytes
    content_type: str
    received_at: datetime


@dataclass(frozen=True)
class DeliveryVerdict:
    """What became of one delivery; ``status`` is the inbox row's new status."""

    delivery_id: int
    outcome: Outcome
    reason: str | None = None

    @property
    def status(self) -> DeliveryStatus:
        return _STATUS[self.outcome]


@dataclass(frozen=True)
class TargetedPolls:
    """What the payloads could not settle: PRs, head SHAs and check runs (by id) to fetch."""

    pull_requests: frozenset[int] = frozenset()
    head_shas: frozenset[str] = frozenset()
    check_runs: frozenset[int] = frozenset()

    @property
    def count(self) -> int:
        return len(self.pull_requests) + len(self.head_shas) + len(self.check_runs)

    def __or__(self, other: TargetedPolls) -> TargetedPolls:
        return TargetedPolls(
            self.pull_requests | other.pull_requests,
            self.head_shas | other.head_shas,
            self.check_runs | other.check_runs,
        )


@dataclass(frozen=True)
class RepositoryMove:
    """A ``repository`` renamed/transferred delivery: GitHub's id and the name it has now."""

    delivery_id: int
    github_id: int
    full_name: str
    updated_at: str
    """The repository object's ``updated_at`` (ISO text): the newest move of a batch wins."""


@dataclass(frozen=True)
class DeliveryCounts:
    """Deliveries by outcome; ``applied + duplicates + out_of_order_skipped + polled`` are the
    rows marked applied."""

    applied: int = 0
    duplicates: int = 0
    out_of_order_skipped: int = 0
    polled: int = 0
    parked: int = 0
    ignored: int = 0
    rejected: int = 0

    @classmethod
    def of(cls, verdicts: tuple[DeliveryVerdict, ...]) -> DeliveryCounts:
        def n(outcome: Outcome) -> int:
            return sum(1 for v in verdicts if v.outcome == outcome)

        return cls(
            applied=n("applied"),
            duplicates=n("duplicate"),
            out_of_order_skipped=n("out_of_order"),
            polled=n("polled"),
            parked=n("parked"),
            ignored=n("ignored"),
            rejected=n("rejected"),
        )

    def __add__(self, other: DeliveryCounts) -> DeliveryCounts:
        return DeliveryCounts(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)
        )


@dataclass(frozen=True)
class EventBatch:
    """One repository's deliveries as a poll's tables, with a verdict for every delivery.

    ``pr_sources``/``run_sources`` name the deliveries behind each winning record (the winner
    first, then its duplicates), so settling against the warehouse can re-judge them.
    """

    pull_requests: pa.Table
    check_runs: pa.Table
    verdicts: tuple[DeliveryVerdict, ...]
    polls: TargetedPolls = field(default_factory=TargetedPolls)
    move: RepositoryMove | None = None
    pr_sources: dict[int, tuple[int, ...]] = field(default_factory=dict)
    run_sources: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def counts(self) -> DeliveryCounts:
        return DeliveryCounts.of(self.verdicts)


# --- decoding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteHint:
    """A ``check_suite.completed`` delivery: the app's suite on ``head_sha`` finished with
    ``runs`` check runs (``latest_check_runs_count``; None when the payload lacks it)."""

    delivery_id: int
    head_sha: str
    app_slug: str | None
    runs: int | None


@dataclass
class DecodedDeliveries:
    """Every delivery sorted into records, polls, a move, or a final verdict."""

    pull_requests: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    check_runs: list[tuple[int, dict[str, Any], datetime]] = field(default_factory=list)
    polls: list[tuple[int, TargetedPolls, str]] = field(default_factory=list)
    moves: list[RepositoryMove] = field(default_factory=list)
    verdicts: list[DeliveryVerdict] = field(default_factory=list)
    suites: list[SuiteHint] = field(default_factory=list)

    @property
    def check_run_head_shas(self) -> set[str]:
        """The SHAs whose PRs the warehouse must name (see :func:`assemble_batch`)."""
        return {str(run["head_sha"]) for _, run, _ in self.check_runs}


def decode_deliveries(deliveries: list[PendingDelivery]) -> DecodedDeliveries:
    """Sort deliveries by what they carry; a body that is not JSON is rejected here."""
    decoded = DecodedDeliveries()
    for delivery in deliveries:
        try:
            payload = decode_delivery_body(delivery.body, delivery.content_type)
        except ValueError as exc:
            decoded.verdicts.append(_verdict(delivery, "rejected", f"malformed body: {exc}"))
            continue
        _route(delivery, payload, decoded)
    return decoded


def is_commit_sha(value: Any) -> bool:
    """Whether ``value`` is a lowercase hex commit SHA (nothing else reaches a URL or SQL)."""
    return isinstance(value, str) and COMMIT_SHA.fullmatch(value) is not None


def _verdict(delivery: PendingDelivery, outcome: Outcome, reason: str | None) -> DeliveryVerdict:
    return DeliveryVerdict(delivery.id, outcome, reason[:500] if reason else None)


def _route(delivery: PendingDelivery, payload: dict[str, Any], decoded: DecodedDeliveries) -> None:
    event, action = delivery.event, payload.get("action", delivery.action)
    if event not in APPLIED_EVENTS:
        decoded.verdicts.append(_verdict(delivery, "ignored", f"event {event!r} is not applied"))
    elif event == "pull_request":
        _route_pull_request(delivery, action, payload, decoded)
    elif event == "check_run":
        _route_check_run(delivery, action, payload, decoded)
    elif event == "check_suite":
        _route_check_suite(delivery, action, payload, decoded)
    else:
        _route_repository(delivery, action, payload, decoded)


def _route_pull_request(
    delivery: PendingDelivery, action: Any, payload: dict[str, Any], decoded: DecodedDeliveries
) -> None:
    if action not in PULL_REQUEST_ACTIONS:
        decoded.verdicts.append(_verdict(delivery, "ignored", f"pull_request action {action!r}"))
        return
    pr = payload.get("pull_request")
    if isinstance(pr, dict):
        decoded.pull_requests.append((delivery.id, _without_removed(action, payload, pr)))
        return
    number = payload.get("number")
    if isinstance(number, int) and not isinstance(number, bool):
        poll = TargetedPolls(pull_requests=frozenset({number}))
        decoded.polls.append((delivery.id, poll, f"no pull_request object: poll #{number}"))
    else:
        decoded.verdicts.append(_verdict(delivery, "rejected", "no pull_request object or number"))


def _without_removed(action: str, payload: dict[str, Any], pr: dict[str, Any]) -> dict[str, Any]:
    """The PR of an ``unlabeled``/``unassigned`` delivery without the label or assignee it names.

    Whether GitHub lists the embedded labels/assignees before or after the change is not
    documented, and the recorded examples still show the removed one (§4.1, §7.3): removing it
    is right either way.
    """
    field, item, key = {
        "unlabeled": ("labels", "label", "name"),
        "unassigned": ("assignees", "assignee", "login"),
    }.get(action, ("", "", ""))
    removed = payload.get(item) if field else None
    listed = pr.get(field) if field else None
    if not isinstance(removed, dict) or not isinstance(listed, list):
        return pr
    kept = [x for x in listed if not (isinstance(x, dict) and x.get(key) == removed.get(key))]
    return {**pr, field: kept}


def _route_check_run(
    delivery: PendingDelivery, action: Any, payload: dict[str, Any], decoded: DecodedDeliveries
) -> None:
    if action not in CHECK_RUN_ACTIONS:
        decoded.verdicts.append(_verdict(delivery, "ignored", f"check_run action {action!r}"))
        return
    run = payload.get("check_run")
    sha = run.get("head_sha") if isinstance(run, dict) else None
    if not isinstance(run, dict) or not is_commit_sha(sha):
        decoded.verdicts.append(_verdict(delivery, "rejected", "no check_run with a head_sha"))
        return
    decoded.check_runs.append((delivery.id, run, delivery.received_at))


def _route_check_suite(
    delivery: PendingDelivery, action: Any, payload: dict[str, Any], decoded: DecodedDeliveries
) -> None:
    if action != "completed":
        decoded.verdicts.append(_verdict(delivery, "ignored", f"check_suite action {action!r}"))
        return
    suite = payload.get("check_suite")
    sha = suite.get("head_sha") if isinstance(suite, dict) else None
    if not isinstance(sha, str) or not is_commit_sha(sha):
        decoded.verdicts.append(_verdict(delivery, "rejected", "no check_suite with a head_sha"))
        return
    poll = TargetedPolls(head_shas=frozenset({sha}))
    decoded.polls.append((delivery.id, poll, f"check suite completed: poll {sha}"))
    app = suite.get("app") if isinstance(suite, dict) else None
    slug = app.get("slug") if isinstance(app, dict) else None
    runs = suite.get("latest_check_runs_count") if isinstance(suite, dict) else None
    decoded.suites.append(
        SuiteHint(
            delivery.id,
            sha,
            slug if isinstance(slug, str) else None,
            runs if isinstance(runs, int) and not isinstance(runs, bool) else None,
        )
    )


def _route_repository(
    delivery: PendingDelivery, action: Any, payload: dict[str, Any], decoded: DecodedDeliveries
) -> None:
    if action not in REPOSITORY_MOVES:
        decoded.verdicts.append(_verdict(delivery, "ignored", f"repository action {action!r}"))
        return
    repository = payload.get("repository")
    ident = repository.get("id") if isinstance(repository, dict) else None
    name = repository.get("full_name") if isinstance(repository, dict) else None
    if not isinstance(ident, int) or isinstance(ident, bool) or not isinstance(name, str):
        decoded.verdicts.append(_verdict(delivery, "rejected", "no repository id and full_name"))
        return
    assert isinstance(repository, dict)
    updated = str(repository.get("updated_at") or "")
    decoded.moves.append(RepositoryMove(delivery.id, ident, name, updated))
