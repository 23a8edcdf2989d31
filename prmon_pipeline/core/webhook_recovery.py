"""Recovering failed webhook deliveries, as GitHub documents it (pure).

docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries (and the
"automatically redelivering failed deliveries" pages for repository, organization and App
hooks): list the deliveries attempted since the last check (first run: the last 24 hours),
newest first, ``per_page=100``, stopping at the first page that reaches back past the checkpoint;
group the attempts by ``guid`` (constant across redeliveries); redeliver one attempt of each GUID
that has no attempt with ``status == "OK"``; then store the new checkpoint. Grouping by GUID
rather than filtering ``status=failure`` also catches attempts whose code is outside 400-599
(timeouts, refused connections).

The list endpoints (REST OpenAPI ``repos/list-webhook-deliveries``, ``orgs/…``, ``apps/…``)
answer ``hook-delivery-item`` objects: ``id, guid, delivered_at, redelivery, duration, status,
status_code, event, action, installation_id, repository_id`` (+ ``throttled_at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.repo_key import is_valid_owner, parse_repo_key

ScopeKind = Literal["repo", "org", "app"]
OK_STATUS = "OK"
FIRST_LOOK_BACK = timedelta(hours=24)
CHECK_OVERLAP = timedelta(minutes=5)
"""Each check also looks this far behind its checkpoint: attempts "can take a few minutes to
appear in the recent deliveries log" (troubleshooting-webhooks) and ``delivered_at`` has whole
seconds. Seeing an attempt twice is harmless: grouping by GUID finds its OK attempt, and a
second redelivery of the same GUID is a duplicate the inbox stores once."""
PER_PAGE = 100


@dataclass(frozen=True)
class HookScope:
    """Whose hook: a repository's (``owner/name``), an organization's, or the GitHub App's.

    ``kind`` and ``target`` are the key of ``prmon.webhook_recoveries`` (``target`` is empty for
    the App, which has one hook).
    """

    kind: ScopeKind
    target: str
    hook_id: int

    @classmethod
    def repository(cls, full_name: str, hook_id: int) -> HookScope:
        return cls("repo", str(parse_repo_key(full_name)), _hook_id(hook_id))

    @classmethod
    def organization(cls, org: str, hook_id: int) -> HookScope:
        if not is_valid_owner(org):
            raise ConfigurationError(f"invalid GitHub organization {org!r}")
        return cls("org", org, _hook_id(hook_id))

    @classmethod
    def app(cls) -> HookScope:
        return cls("app", "", 0)

    @property
    def deliveries_path(self) -> str:
        """The list endpoint, relative to the API root."""
        if self.kind == "repo":
            return f"repos/{self.target}/hooks/{self.hook_id}/deliveries"
        if self.kind == "org":
            return f"orgs/{self.target}/hooks/{self.hook_id}/deliveries"
        return "app/hook/deliveries"

    def attempts_path(self, delivery_id: int) -> str:
        """``POST`` here redelivers delivery ``delivery_id`` (GitHub answers 202)."""
        return f"{self.deliveries_path}/{int(delivery_id)}/attempts"

    def __str__(self) -> str:
        if self.kind == "app":
            return "the GitHub App's hook"
        return f"{self.kind} {self.target} hook {self.hook_id}"


def _hook_id(hook_id: int) -> int:
    if hook_id <= 0:
        raise ConfigurationError(f"a hook id is a positive number, got {hook_id}")
    return hook_id


@dataclass(frozen=True)
class DeliveryAttempt:
    """One ``hook-delivery-item``: one attempt to deliver one event (redeliveries are more)."""

    id: int
    guid: str
    delivered_at: datetime
    status: str
    status_code: int | None
    event: str
    action: str | None
    redelivery: bool
    repository_id: int | None

    @property
    def ok(self) -> bool:
        return self.status == OK_STATUS


def parse_delivery_attempt(item: Mapping[str, Any]) -> DeliveryAttempt:
    """Parse one item of the deliveries list; ``ValueError`` when it lacks what we rely on."""
    try:
        attempt_id, guid, delivered = item["id"], item["guid"], item["delivered_at"]
    except KeyError as exc:
        raise ValueError(f"delivery item without {exc.args[0]!r}") from exc
    if not isinstance(attempt_id, int) or not isinstance(guid, str):
        raise ValueError("delivery item with a non-numeric id or a non-text guid")
    code = item.get("status_code")
    repository = item.get("repository_id")
    return DeliveryAttempt(
        id=attempt_id,
        guid=guid,
        delivered_at=parse_timestamp(delivered),
        status=str(item.get("status") or ""),
        status_code=code if isinstance(code, int) else None,
        event=str(item.get("event") or ""),
        action=item["action"] if isinstance(item.get("action"), str) else None,
        redelivery=item.get("redelivery") is True,
        repository_id=repository if isinstance(repository, int) else None,
    )


def parse_timestamp(value: object) -> datetime:
    """GitHub's ISO 8601 timestamp (``…Z``) as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed


def check_window_start(checkpoint: datetime | None, now: datetime) -> datetime:
    """Where a check starts listing: the last checkpoint less the overlap, else 24 h ago."""
    return now - FIRST_LOOK_BACK if checkpoint is None else checkpoint - CHECK_OVERLAP


def reaches_checkpoint(page: Iterable[DeliveryAttempt], since: datetime) -> bool:
    """True when a page (newest first) goes back to ``since`` or earlier: stop paging."""
    return any(attempt.delivered_at < since for attempt in page)


@dataclass(frozen=True)
class RecoveryPlan:
    """What one check found: deliveries (GUIDs) since the checkpoint, and what to redeliver."""

    attempts: int
    found: int
    already_ok: int
    to_redeliver: tuple[DeliveryAttempt, ...]


def plan_redeliveries(attempts: Iterable[DeliveryAttempt], since: datetime) -> RecoveryPlan:
    """GUIDs attempted since ``since``; one attempt (the newest) of each that never got OK.

    Every attempt of a GUID counts, also the ones older than the checkpoint that the last page
    happened to include: an event that got an OK before the checkpoint is not redelivered.
    """
    by_guid: dict[str, list[DeliveryAttempt]] = {}
    count = 0
    for attempt in attempts:
        count += 1
        by_guid.setdefault(attempt.guid, []).append(attempt)
    recent = {
        g: tries for g, tries in by_guid.items() if any(t.delivered_at >= since for t in tries)
    }
    failed = [
        max(tries, key=lambda t: (t.delivered_at, t.id))
        for tries in recent.values()
        if not any(t.ok for t in tries)
    ]
    failed.sort(key=lambda t: (t.delivered_at, t.id))
    return RecoveryPlan(
        attempts=count,
        found=len(recent),
        already_ok=len(recent) - len(failed),
        to_redeliver=tuple(failed),
    )
