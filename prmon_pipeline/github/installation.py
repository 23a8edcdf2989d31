"""The repositories a GitHub App installation may read (``GET /installation/repositories``).

With App authentication this is how an owner's repositories are listed: the installation token
sees exactly the repositories the App was granted (all of the account's, or a selection), which
``GET /orgs/{org}/repos`` would not tell. Paginated with Link, 100 per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prmon_pipeline.core.errors import ConfigurationError, MalformedResponseError
from prmon_pipeline.github.client import GitHubClient, RequestTally

INSTALLATION_REPOSITORIES_PARAMS = {"per_page": 100}


@dataclass(frozen=True)
class InstallationRepository:
    """One repository of an installation, with the flags a registry pattern filters on."""

    full_name: str
    github_id: int
    archived: bool
    fork: bool
    private: bool
    owner_type: str | None = None
    """``Organization`` or ``User``: the account the installation is on (``owner.type``)."""


async def list_installation_repositories(
    client: GitHubClient, owner: str, tally: RequestTally | None = None
) -> list[InstallationRepository]:
    """Every repository the App's installation on ``owner`` may read, in GitHub's order.

    Needs App authentication (``PRMON_GITHUB_APP_ID``): a plain token has no installation.
    """
    if client.config.app is None:
        raise ConfigurationError(
            "listing an installation's repositories needs GitHub App authentication"
            " (PRMON_GITHUB_APP_ID and a private key)"
        )
    found: list[InstallationRepository] = []
    url: str | None = "installation/repositories"
    params: dict[str, str | int] | None = dict(INSTALLATION_REPOSITORIES_PARAMS)
    while url is not None:
        response = await client.get(url, params=params, context=owner, tally=tally)
        found.extend(_repositories(response.data, owner))
        url, params = response.next_url, None
    return found


def _owner_type(item: Any) -> str | None:
    account = item.get("owner") if isinstance(item, dict) else None
    kind = account.get("type") if isinstance(account, dict) else None
    return kind if isinstance(kind, str) else None


def _repositories(body: Any, owner: str) -> list[InstallationRepository]:
    items = body.get("repositories") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise MalformedResponseError(
            f"{owner}: GET /installation/repositories: no 'repositories' list in the answer"
        )
    try:
        return [
            InstallationRepository(
                full_name=str(item["full_name"]),
                github_id=int(item["id"]),
                archived=bool(item.get("archived", False)),
                fork=bool(item.get("fork", False)),
                private=bool(item.get("private", False)),
                owner_type=_owner_type(item),
            )
            for item in items
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponseError(
            f"{owner}: GET /installation/repositories: a repository without {exc}"
        ) from None
