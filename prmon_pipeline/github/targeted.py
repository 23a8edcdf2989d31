"""Targeted polls: one PR, one head SHA's check runs, or one check run, for what a webhook
delivery could not settle (a tie, a ``check_suite.completed``, a record the parser refused).

The same client (its retries, rate-limit waits and budgets) and the same parsers as discovery;
check runs come back on PR 0 and are attached to PRs by head SHA afterwards
(``core.webhook_ordering.attach_by_head``), as the delivery's runs are. A 404 is the item's own
failure (the PR or run is gone): it is reported, not raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import pyarrow as pa

from prmon_pipeline.core.errors import GitHubError, MalformedResponseError
from prmon_pipeline.core.github_json import parse_check_runs, parse_pull_requests
from prmon_pipeline.core.models import ItemFailure, ItemKind
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.core.webhook_events import TargetedPolls, is_commit_sha
from prmon_pipeline.github.client import GitHubClient, RequestTally
from prmon_pipeline.github.discovery import CHECK_RUNS_PARAMS

GONE = frozenset({404, 410, 422})


@dataclass
class PolledRecords:
    """What the targeted polls read: PRs, check runs (on PR 0) and items GitHub refused."""

    pull_requests: list[pa.Table] = field(default_factory=list)
    check_runs: list[pa.Table] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)

    def tables(self) -> tuple[pa.Table, pa.Table]:
        prs = [t for t in self.pull_requests if t.num_rows]
        runs = [t for t in self.check_runs if t.num_rows]
        return (
            pa.concat_tables(prs) if prs else PULL_REQUEST_SCHEMA.empty_table(),
            pa.concat_tables(runs) if runs else CHECK_RUN_SCHEMA.empty_table(),
        )


def _repo_path(repository: str) -> str:
    return "repos/" + quote(repository, safe="/")


async def poll_targets(
    client: GitHubClient, repository: str, polls: TargetedPolls, tally: RequestTally
) -> PolledRecords:
    """Read every target once, one after the other (they are few; the client bounds the rest).

    Raises the first error that is not an item's own (rate limits, 401/403, transport).
    """
    records = PolledRecords()
    base = _repo_path(repository)
    for number in sorted(polls.pull_requests):
        data = await _get(client, f"{base}/pulls/{number}", repository, tally, records, number)
        if data is not None:
            records.pull_requests.append(parse_pull_requests(data, repository))
    for run_id in sorted(polls.check_runs):
        data = await _get(client, f"{base}/check-runs/{run_id}", repository, tally, records, run_id)
        if data is not None:
            records.check_runs.append(parse_check_runs(data, repository, 0))
    for sha in sorted(s for s in polls.head_shas if is_commit_sha(s)):
        await _sha_runs(client, f"{base}/commits/{sha}/check-runs", repository, tally, records)
    return records


async def _get(  # noqa: PLR0917 - a private step of poll_targets
    client: GitHubClient,
    url: str,
    repository: str,
    tally: RequestTally,
    records: PolledRecords,
    item: int,
) -> dict[str, object] | None:
    try:
        response = await client.get(url, context=repository, tally=tally)
    except GitHubError as error:
        if error.http_status not in GONE:
            raise
        status = int(error.http_status or 0)
        kind: ItemKind = "pull_request" if "/pulls/" in url else "check_runs"
        records.failures.append(ItemFailure(kind, str(item), status, str(error)))
        return None
    if not isinstance(response.data, dict):
        raise MalformedResponseError(f"{repository}: GET {url}: expected a JSON object")
    return response.data


async def _sha_runs(
    client: GitHubClient, url: str, repository: str, tally: RequestTally, records: PolledRecords
) -> None:
    """Every page of one SHA's check runs (a SHA GitHub no longer knows is its own failure)."""
    try:
        response = await client.get(url, params=CHECK_RUNS_PARAMS, context=repository, tally=tally)
        while True:
            if not isinstance(response.data, dict):
                raise MalformedResponseError(f"{repository}: GET {url}: expected a JSON object")
            records.check_runs.append(parse_check_runs(response.data, repository, 0))
            if response.next_url is None:
                return
            response = await client.get(response.next_url, context=repository, tally=tally)
    except GitHubError as error:
        if error.http_status not in GONE:
            raise
        sha = url.rsplit("/", 2)[-2]
        records.failures.append(
            ItemFailure("check_runs", sha, int(error.http_status or 0), str(error))
        )
