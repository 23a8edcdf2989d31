"""GitHub's webhook deliveries API: list a hook's recent attempts, redeliver one.

Endpoints (REST OpenAPI ``repos/list-webhook-deliveries``, ``repos/redeliver-webhook-delivery``,
their ``orgs/…`` twins, and ``apps/list-webhook-deliveries`` / ``apps/redeliver-webhook-delivery``):
``GET {hook}/deliveries?per_page=100`` newest first, the next page's ``cursor`` only in the
``Link`` header (followed as given, never built); ``POST {hook}/deliveries/{id}/attempts`` → 202.
The App's hook (``/app/hook/…``) takes the App's own JWT, not an installation token:
:class:`AppJwtCredentials`. Requests go through :class:`GitHubClient`, so retries, rate-limit
waits, budgets and error translation are the sync's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from prmon_pipeline.core.errors import GitHubError
from prmon_pipeline.core.webhook_recovery import (
    PER_PAGE,
    DeliveryAttempt,
    HookScope,
    parse_delivery_attempt,
    reaches_checkpoint,
)
from prmon_pipeline.github.app_auth import AppCredentials
from prmon_pipeline.github.client import GitHubClient, RequestTally


@dataclass(frozen=True)
class AppJwtCredentials:
    """The GitHub App itself (a fresh RS256 JWT per request): for ``/app/hook/deliveries``.

    The key stays out of ``repr``; the JWT is only ever placed in the header.
    """

    app: AppCredentials = field(repr=False)
    clock: Callable[[], float] = time.time

    async def authorization(self, owner: str | None, repository: str | None) -> str | None:
        return f"Bearer {self.app.jwt(self.clock())}"

    def principal(self, owner: str | None) -> str:
        return f"app {self.app.app_id}"

    def invalidate(self, owner: str | None) -> bool:
        return False


def scope_context(scope: HookScope) -> str:
    """What the client picks a credential by: the repository, the organization, or nothing."""
    return scope.target


async def list_attempts_since(
    client: GitHubClient,
    scope: HookScope,
    since: datetime,
    tally: RequestTally | None = None,
) -> list[DeliveryAttempt]:
    """Every attempt on the pages that reach back to ``since`` (newest first).

    Stops after the first page holding an attempt older than ``since`` (GitHub's sample does
    the same), or at the last page.
    """
    context = scope_context(scope)
    url: str | None = scope.deliveries_path
    params: dict[str, str | int] | None = {"per_page": PER_PAGE}
    attempts: list[DeliveryAttempt] = []
    while url is not None:
        response = await client.get(url, params=params, context=context, tally=tally)
        page = _page(response.data, scope)
        attempts.extend(page)
        if not page or reaches_checkpoint(page, since):
            break
        url, params = response.next_url, None
    return attempts


async def redeliver(
    client: GitHubClient,
    scope: HookScope,
    attempt: DeliveryAttempt,
    tally: RequestTally | None = None,
) -> None:
    """Ask GitHub to deliver ``attempt``'s event again (same GUID, ``redelivery: true``)."""
    await client.post(scope.attempts_path(attempt.id), context=scope_context(scope), tally=tally)


def _page(data: object, scope: HookScope) -> list[DeliveryAttempt]:
    if not isinstance(data, list):
        raise GitHubError(f"{scope}: the deliveries list is not a JSON array")
    try:
        return [parse_delivery_attempt(item) for item in data]
    except (ValueError, TypeError) as exc:
        raise GitHubError(f"{scope}: unusable delivery item: {exc}") from exc
