"""``prmon demo``: the whole system on embedded defaults, no token and no database needed.

It starts what is missing (the embedded PostgreSQL, fakehub), migrates, registers the simulated
repositories, runs a cold sync through the Dagster graph, advances the simulated world, runs an
incremental sync, prints what changed, and stops everything it started. With ``GITHUB_TOKEN`` and
``--repo owner/name`` it syncs real GitHub instead (twice: cold, then incremental).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from prmon_pipeline.cli.output import print_table, stdout
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.sync import SyncOptions, sync_repositories
from prmon_pipeline.warehouse.embedded import stop_embedded
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline.warehouse.status import (
    SyncRunFigures,
    read_state_transitions,
    read_sync_runs,
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="run the whole pipeline on embedded defaults")
    demo.add_argument("--repos", type=int, default=3, help="simulated repositories (3)")
    demo.add_argument("--prs", type=int, default=300, help="PRs per simulated repository (300)")
    demo.add_argument(
        "--advance", type=float, default=0.5, metavar="HOURS", help="simulated time between syncs"
    )
    demo.add_argument("--repo", metavar="OWNER/NAME", help="sync this real repository instead")
    demo.add_argument(
        "--engine",
        choices=("dagster", "direct"),
        default="dagster",
        help="run the syncs through the Dagster graph (default) or the engine directly",
    )
    demo.set_defaults(handler=demo_command)


@contextmanager
def embedded_warehouse(settings: Settings) -> Iterator[Settings]:
    """The settings, with an embedded server started for the demo and stopped afterwards."""
    if not settings.embedded:
        yield settings
        return
    running_before = (settings.home / "pgdata" / "postmaster.pid").exists()
    stdout.print(f"starting embedded PostgreSQL in {settings.home / 'pgdata'}")
    url = settings.database_url
    try:
        yield replace(settings, env={**settings.env, "PRMON_DATABASE_URL": url})
    finally:
        if not running_before:
            stop_embedded(settings.home)
            stdout.print("stopped embedded PostgreSQL")


def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.repo and not settings.has_github_credentials:
        raise ConfigurationError(
            "--repo syncs real GitHub and needs GITHUB_TOKEN (or a GitHub App) to be set"
        )
    with ExitStack() as stack:
        settings = stack.enter_context(embedded_warehouse(settings))
        world: World | None = None
        if args.repo:
            repositories = [str(parse_repo_key(args.repo))]
        else:
            # The simulated present is now, so the check-run look-back means what it says.
            start = datetime.now(UTC).replace(microsecond=0)
            world = World(
                WorldConfig(
                    seed=2026, repositories=args.repos, prs_per_repository=args.prs, start=start
                )
            )
            world.advance(3600)  # an hour of activity, so some checks are running at the cold sync
            url = stack.enter_context(serve(create_app(world, HubConfig())))
            stdout.print(f"fakehub serving {args.repos} simulated repositories at {url}")
            settings = settings.for_simulator(url)
            repositories = world.repository_names()
        with settings.warehouse() as conn:
            for name in repositories:
                add_repository(conn, name)
        stdout.print(f"registered {', '.join(repositories)}")
        cold_ok = _sync(settings, repositories, args.engine, "cold sync")
        if world is not None:
            world.advance(args.advance * 3600)
            stdout.print(f"advanced the simulated world by {args.advance:g} hours")
        incremental_ok = _sync(settings, repositories, args.engine, "incremental sync")
    return 0 if cold_ok and incremental_ok else 1


def _sync(settings: Settings, repositories: list[str], engine: str, title: str) -> bool:
    """One sync cycle through the chosen engine; print what the warehouse recorded of it."""
    stdout.print(f"[bold]{title}[/bold] of {len(repositories)} repositories ({engine})")
    since = datetime.now(UTC)
    if engine == "dagster":
        # Imported on use: Dagster costs ~70 MB and a second of start-up to every other verb.
        from prmon_pipeline.dagster_notices import dagster_notices_silenced  # noqa: PLC0415

        # Loading the definitions emits Dagster's Beta/Preview notices: noise to a demo's user.
        with dagster_notices_silenced():
            from prmon_pipeline.cli.dagster_runs import sync_through_dagster  # noqa: PLC0415

            sync_through_dagster(settings, repositories)
    else:
        asyncio.run(_direct(settings, repositories))
    with settings.warehouse() as conn:
        runs = read_sync_runs(conn, since)
        transitions = read_state_transitions(conn, [run.id for run in runs])
    print_table(title, RUN_COLUMNS, [_run_row(run) for run in runs])
    units = sum(run.api_requests - run.api_not_modified for run in runs)
    points = sum(run.graphql_points for run in runs)
    stdout.print(f"{title} spent {units} REST units and {points} GraphQL points")
    if title != "cold sync":
        _print_changes(runs, transitions)
    return bool(runs) and all(run.status == "succeeded" for run in runs)


RUN_COLUMNS = (
    "repository",
    "status",
    "PRs new",
    "updated",
    "unchanged",
    "checks new",
    "checks updated",
    "transitions",
    "requests",
    "free 304s",
    "REST units",
    "GraphQL points",
    "seconds",
)


def _run_row(run: SyncRunFigures) -> tuple[object, ...]:
    return (
        run.full_name,
        run.status if run.status == "succeeded" else f"{run.status}: {run.error}",
        run.prs_new,
        run.prs_updated,
        run.prs_unchanged,
        run.check_runs_new,
        run.check_runs_updated,
        run.state_changes,
        run.api_requests,
        run.api_not_modified,
        run.api_requests - run.api_not_modified,
        run.graphql_points,
        f"{run.seconds:.2f}" if run.seconds is not None else "",
    )


async def _direct(settings: Settings, repositories: list[str]) -> None:
    async with GitHubClient(settings.github()) as client:
        await sync_repositories(
            repositories, database_url=settings.database_url, client=client, options=SyncOptions()
        )


def _print_changes(
    runs: list[SyncRunFigures], transitions: list[tuple[str, int, str | None, str]]
) -> None:
    """What the incremental sync changed, per repository: transitions and API cost."""
    for run in runs:
        stdout.print(
            f"[bold]{run.full_name}[/bold]: {run.prs_new} new and {run.prs_updated} updated PRs,"
            f" {run.state_changes} state transitions, {run.check_runs_new} new check runs,"
            f" {run.check_runs_updated} check runs progressed or finished;"
            f" {run.api_requests} REST requests ({run.api_not_modified} of them free 304s):"
            f" REST units {run.api_requests - run.api_not_modified},"
            f" GraphQL points {run.graphql_points} (in {run.graphql_queries} shared queries)"
        )
        mine = [t for t in transitions if t[0] == run.full_name]
        for _, number, before, after in mine[:6]:
            stdout.print(f"  #{number}: {before or '(new)'} → {after}")
        if len(mine) > 6:
            stdout.print(f"  … and {len(mine) - 6} more")
