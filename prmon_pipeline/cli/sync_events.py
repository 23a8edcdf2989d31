"""``prmon sync --events``: apply the pending webhook deliveries once and exit."""

from __future__ import annotations

import argparse
import asyncio

from prmon_pipeline.cli.output import print_json, print_table, stderr
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import SyncOptions, SyncOutcome
from prmon_pipeline.sync.events import EventRound, apply_pending_deliveries
from prmon_pipeline.warehouse.repositories import get_repository

EVENTS_COLUMNS = (
    "repository",
    "status",
    "deliveries applied",
    "duplicates",
    "out of order",
    "polled",
    "parked",
    "ignored",
    "rejected",
    "PRs new",
    "updated",
    "checks new",
    "updated",
    "transitions",
    "requests",
    "seconds",
)
INCOMPATIBLE = ("full", "dry_run", "pr", "all")


def events_command(args: argparse.Namespace, settings: Settings) -> int:
    """Apply every pending delivery (of the named repositories only, when some are named)."""
    used = [f"--{name.replace('_', '-')}" for name in INCOMPATIBLE if getattr(args, name, None)]
    if used:
        raise ConfigurationError(f"--events cannot be combined with {', '.join(used)}")
    keys = None
    if args.repositories:
        with settings.warehouse() as conn:
            keys = [get_repository(conn, parse_repo_key(t)).full_name for t in args.repositories]
    github = settings.github(max_budget_share=args.max_budget_share)
    result = asyncio.run(_run(github, settings.database_url, keys, args.concurrency))
    if args.json:
        print_json([_as_dict(o) for o in result.outcomes])
    else:
        print_table("events summary", EVENTS_COLUMNS, [_row(o) for o in result.outcomes])
    if result.unregistered:
        stderr.print(
            f"prmon: {result.unregistered} deliveries of unregistered repositories ignored",
            markup=False,
            highlight=False,
        )
    failed = [o for o in result.outcomes if o.error is not None]
    for outcome in failed:
        stderr.print(f"prmon: {outcome.error}", markup=False, highlight=False)
    return 1 if failed else 0


async def _run(
    github: GitHubConfig, database_url: str, keys: list[str] | None, concurrency: int
) -> EventRound:
    async with GitHubClient(github) as client:
        return await apply_pending_deliveries(
            database_url, client, SyncOptions(mode="events"), keys, concurrency=concurrency
        )


def _as_dict(outcome: SyncOutcome) -> dict[str, object]:
    if outcome.figures is not None:
        return {"status": "succeeded", **outcome.figures.as_dict()}
    return {"repository": outcome.repository, "status": "failed", "error": str(outcome.error)}


def _row(outcome: SyncOutcome) -> tuple[object, ...]:
    f = outcome.figures
    if f is None or f.deliveries is None:
        return (outcome.repository, "FAILED", *[""] * (len(EVENTS_COLUMNS) - 2))
    d, counts = f.deliveries, f.counts
    return (
        outcome.repository,
        "ok",
        d.applied,
        d.duplicates,
        d.out_of_order_skipped,
        d.polled,
        d.parked,
        d.ignored,
        d.rejected,
        counts.prs_new,
        counts.prs_updated,
        counts.check_runs_new,
        counts.check_runs_updated,
        counts.state_changes,
        f.cost.requests,
        f"{f.total_seconds:.2f}",
    )
