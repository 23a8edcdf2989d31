"""``prmon sync``: run the sync engine without a Dagster daemon."""

from __future__ import annotations

import argparse
import asyncio

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from prmon_pipeline.allocator_settings import apply_sync_allocator_settings
from prmon_pipeline.cli.output import print_json, print_table, stderr
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.cli.sync_events import events_command
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.models import API_MODES, SyncMode
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import SyncOptions, SyncOutcome, sync_repositories
from prmon_pipeline.sync.options import (
    CHECK_RUNS_LOOKBACK_DAYS,
    MAX_BUDGET_SHARE,
    REPOSITORIES_AT_ONCE,
    lookback,
)
from prmon_pipeline.warehouse.repositories import get_repository, list_repositories

SUMMARY_COLUMNS = (
    "repository",
    "status",
    "PRs new",
    "updated",
    "unchanged",
    "deleted",
    "checks new",
    "updated",
    "transitions",
    "items skipped",
    "requests",
    "304s",
    "GraphQL points",
    "seconds",
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sync = commands.add_parser("sync", help="sync repositories now (no Dagster daemon needed)")
    sync.add_argument("repositories", nargs="*", metavar="OWNER/NAME")
    sync.add_argument("--all", action="store_true", help="every active registered repository")
    sync.add_argument("--full", action="store_true", help="full reconciliation (finds deletions)")
    sync.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")
    sync.add_argument("--pr", type=int, metavar="N", help="sync one pull request")
    sync.add_argument(
        "--refresh-checks",
        action="store_true",
        help="also poll every open PR's check runs for re-runs (free 304s, one request each)",
    )
    sync.add_argument(
        "--concurrency",
        type=int,
        default=REPOSITORIES_AT_ONCE,
        help=f"repositories at once ({REPOSITORIES_AT_ONCE})",
    )
    sync.add_argument(
        "--check-runs-lookback",
        type=int,
        default=CHECK_RUNS_LOOKBACK_DAYS,
        metavar="DAYS",
        help=(
            "on first and full syncs, skip check runs of PRs closed longer ago than this"
            f" ({CHECK_RUNS_LOOKBACK_DAYS}; 0 fetches them all)"
        ),
    )
    sync.add_argument(
        "--max-budget-share",
        type=float,
        default=MAX_BUDGET_SHARE,
        metavar="SHARE",
        help=(
            "spend at most this share of each rate-limit pool's hourly budget (0 < SHARE <= 1);"
            " the rest is left to other tools: repositories not reached are deferred, not lost,"
            " and the next sync resumes them"
        ),
    )
    sync.add_argument(
        "--api",
        choices=API_MODES,
        default=SyncOptions.api,
        help=(
            "how check runs are read: GraphQL batches where cheaper and offered, REST 304s for"
            " the sweep (auto); REST only (rest); GraphQL for every SHA (graphql)"
        ),
    )
    sync.add_argument(
        "--events",
        action="store_true",
        help=(
            "apply the pending webhook deliveries (of the named repositories, else of all) once"
            " and exit; API requests only for what the payloads could not settle"
        ),
    )
    sync.add_argument("--json", action="store_true", help="print the figures as JSON")
    sync.set_defaults(handler=sync_command)


def _options(args: argparse.Namespace) -> SyncOptions:
    if args.pr is not None and args.full:
        raise ConfigurationError("--pr and --full cannot be combined")
    if args.pr is not None and args.pr <= 0:
        raise ConfigurationError(f"--pr must be a positive PR number, got {args.pr}")
    if args.concurrency < 1:
        raise ConfigurationError(f"--concurrency must be at least 1, got {args.concurrency}")
    if not 0.0 < args.max_budget_share <= 1.0:
        raise ConfigurationError(
            f"--max-budget-share must be above 0 and at most 1, got {args.max_budget_share}"
        )
    if args.check_runs_lookback < 0:
        raise ConfigurationError(
            "--check-runs-lookback must be 0 (off) or a number of days,"
            f" got {args.check_runs_lookback}"
        )
    mode: SyncMode = "single" if args.pr is not None else "full" if args.full else "incremental"
    return SyncOptions(
        mode=mode,
        dry_run=args.dry_run,
        pr_number=args.pr,
        check_runs_lookback=lookback(args.check_runs_lookback),
        refresh_open_checks=args.refresh_checks,
        api=args.api,
    )


def _targets(args: argparse.Namespace, settings: Settings) -> list[str]:
    if args.all == bool(args.repositories):
        raise ConfigurationError("name repositories (OWNER/NAME ...) or pass --all, not both")
    if args.pr is not None and len(args.repositories) != 1:
        raise ConfigurationError("--pr needs exactly one repository")
    keys = [parse_repo_key(text) for text in args.repositories]
    with settings.warehouse() as conn:
        if args.all:
            return [r.full_name for r in list_repositories(conn)]
        return [get_repository(conn, key).full_name for key in keys]


def sync_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.events:
        return events_command(args, settings)
    options = _options(args)
    repositories = _targets(args, settings)
    if not repositories:
        raise ConfigurationError("no active repositories registered; add one with prmon repos add")
    apply_sync_allocator_settings()  # this process syncs from here on: see allocator_settings
    github = settings.github(max_budget_share=args.max_budget_share)
    outcomes = asyncio.run(
        _run(
            repositories,
            options,
            args.concurrency,
            github,
            database_url=settings.database_url,
            quiet=args.json,
        )
    )
    if args.json:
        print_json([_as_dict(o) for o in outcomes])
    else:
        print_table("sync summary", SUMMARY_COLUMNS, [summary_row(o) for o in outcomes])
    failed = [o for o in outcomes if o.error is not None and not o.error.deferred]
    deferred = [o for o in outcomes if o.error is not None and o.error.deferred]
    for outcome in failed:
        stderr.print(f"prmon: {outcome.error}", markup=False, highlight=False)
    if deferred:
        stderr.print(
            f"prmon: {len(deferred)} of {len(outcomes)} repositories deferred: the budget share"
            f" (--max-budget-share {args.max_budget_share:g}) is spent; nothing was lost and the"
            f" next sync resumes them ({', '.join(o.repository for o in deferred)})",
            markup=False,
            highlight=False,
        )
    return 1 if failed else 0


async def _run(
    repositories: list[str],
    options: SyncOptions,
    concurrency: int,
    github: GitHubConfig,
    *,
    database_url: str,
    quiet: bool,
) -> list[SyncOutcome]:
    progress = Progress(
        TextColumn("[bold]sync"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr,
        disable=quiet,
    )
    task = progress.add_task("", total=len(repositories))

    def done(outcome: SyncOutcome) -> None:
        if outcome.figures is not None:
            figures = outcome.figures
            line = (
                f"{outcome.repository}: {figures.prs_seen} PRs and "
                f"{figures.check_runs_seen} check runs seen in "
                f"{figures.cost.requests} requests ({figures.cost.not_modified} free 304s)"
                f" and {figures.cost.graphql_points} GraphQL points"
            )
            if figures.replaced:
                line += f"; replaced an earlier repository of this name ({figures.replaced})"
            for failure in figures.item_failures:
                line += f"\n  skipped, backed off: {failure}"
        elif outcome.error is not None and outcome.error.deferred:
            line = f"{outcome.repository}: deferred (budget share reached)"
        else:
            line = f"{outcome.repository}: FAILED"
        progress.console.print(line, markup=False, highlight=False)
        progress.update(task, advance=1, description=outcome.repository)

    with progress:
        async with GitHubClient(github) as client:
            return await sync_repositories(
                repositories,
                database_url=database_url,
                client=client,
                options=options,
                concurrency=concurrency,
                on_done=done,
            )


def _as_dict(outcome: SyncOutcome) -> dict[str, object]:
    if outcome.figures is not None:
        return {"status": "succeeded", **outcome.figures.as_dict()}
    status = "deferred" if outcome.error is not None and outcome.error.deferred else "failed"
    return {"repository": outcome.repository, "status": status, "error": str(outcome.error)}


def summary_row(outcome: SyncOutcome) -> tuple[object, ...]:
    f = outcome.figures
    if f is None:
        status = "deferred" if outcome.error is not None and outcome.error.deferred else "FAILED"
        return (outcome.repository, status, *[""] * (len(SUMMARY_COLUMNS) - 2))
    counts = f.counts
    return (
        outcome.repository,
        "dry run" if f.dry_run else "ok",
        counts.prs_new,
        counts.prs_updated,
        counts.prs_unchanged,
        counts.prs_deleted,
        counts.check_runs_new,
        counts.check_runs_updated,
        counts.state_changes,
        counts.item_errors,
        f.cost.requests,
        f.cost.not_modified,
        f.cost.graphql_points,
        f"{f.total_seconds:.2f}",
    )
