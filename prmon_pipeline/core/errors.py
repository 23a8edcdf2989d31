"""One exception tree for the whole project, translated from driver errors at the edges.

Adapters turn httpx and psycopg errors into these classes; retry decisions look only at
``transient`` and ``RateLimitedError``, never at driver types. Messages name the repository,
the stage and the item so that a one-line report is enough to act on.
"""

from __future__ import annotations


class PrmonError(Exception):
    """Base of every error this project raises on purpose."""

    transient: bool = False


class ConfigurationError(PrmonError):
    """Bad input from the user: an invalid repository key, a missing setting, a bad URL."""


class InvalidRepositoryKeyError(ConfigurationError, ValueError):
    """An ``owner/repo`` string that GitHub's naming rules do not allow."""


class GitHubError(PrmonError):
    """GitHub answered in a way the sync cannot use (after any retries).

    ``http_status`` is the status of the final answer when there was one (None for transport
    failures): discovery tells an error of one item (a 404/422 for one SHA's check runs) from
    an error of the repository by it, never by parsing the message.
    """

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class TransientGitHubError(GitHubError):
    """A 5xx, timeout, reset or truncated body: worth retrying with back-off."""

    transient = True


class RateLimitedError(GitHubError):
    """A primary or secondary rate limit; ``retry_after`` says how long to wait, in seconds."""

    transient = True

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDeniedError(GitHubError):
    """A 401/403/404 that is not a rate limit: never retried, reported per repository."""


class AppCredentialError(PermissionDeniedError):
    """The GitHub App could not get a token for an owner (not installed there, uninstalled,
    refused): that owner's repositories fail; the endpoint they were going to ask is not at
    fault (a 404 here says nothing about ``/graphql``)."""


class RepositoryReplacedError(GitHubError):
    """``repository`` now names another GitHub repository than the one mirrored so far.

    Deleted and re-created, or another repository renamed into the name: GitHub's id differs
    from the stored one. Raised by discovery on the first page that shows it, before any more
    requests are spent on the other repository.
    """

    def __init__(self, repository: str, expected_id: int, seen_id: int) -> None:
        super().__init__(
            f"{repository}: the name now belongs to GitHub repository {seen_id}, not {expected_id}"
        )
        self.repository = repository
        self.expected_id = expected_id
        self.seen_id = seen_id

    def __reduce__(self) -> tuple[type[RepositoryReplacedError], tuple[str, int, int]]:
        return (type(self), (self.repository, self.expected_id, self.seen_id))


class MalformedResponseError(GitHubError):
    """A payload item that cannot be parsed; names the repository, the item and the field."""


class WarehouseError(PrmonError):
    """PostgreSQL refused or lost the work."""


class TransientWarehouseError(WarehouseError):
    """Serialization failure, deadlock, lost connection, admin shutdown: redo the transaction."""

    transient = True


class MigrationError(WarehouseError):
    """A migration could not be applied, or an applied one was edited afterwards."""


class BudgetReservedError(GitHubError):
    """The share of the hour's budget this tool may use is spent (``--max-budget-share``).

    Not a fault: the rest of the budget is left to other tools. No request was sent, the
    repository's remaining work is skipped without advancing its cursors, and the next cycle
    (after GitHub's ``reset``) resumes where this one stopped. ``pool`` is GitHub's
    ``x-ratelimit-resource`` (``core`` for REST, ``graphql``).
    """

    transient = True

    def __init__(self, where: str, pool: str, remaining: int, limit: int, reset_epoch: int) -> None:
        super().__init__(
            f"{where}: budget share reached: the {pool} pool has {remaining} of {limit} left,"
            " which is reserved for other tools until it resets; resuming next cycle"
        )
        self.where = where
        self.pool = pool
        self.remaining = remaining
        self.limit = limit
        self.reset_epoch = reset_epoch

    def __reduce__(self) -> tuple[type[BudgetReservedError], tuple[str, str, int, int, int]]:
        return (type(self), (self.where, self.pool, self.remaining, self.limit, self.reset_epoch))
