"""One measured sync cycle in a process of its own, so its peak RSS is its own.

Prints one JSON line: wall seconds, the counts the cycle's ``sync_runs`` rows recorded, stage
seconds summed over repositories (engine path only), and ``peak_rss_mb`` (``VmHWM`` of this
process, which applies the allocator settings of ``prmon sync`` first). ``--engine direct`` runs
``sync_repositories``; ``--engine dagster`` materializes the asset graph for every partition in
one single run.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from prmon_pipeline.allocator_settings import apply_sync_allocator_settings
from prmon_pipeline.bench.report import STAGES
from prmon_pipeline.core.models import API_MODES, COMPARISON_CHOICES
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import SyncOptions, SyncOutcome, sync_repositories
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import list_repositories
from prmon_pipeline.warehouse.status import read_sync_runs

COUNTED = (
    "prs_new",
    "prs_updated",
    "prs_unchanged",
    "check_runs_new",
    "check_runs_updated",
    "state_changes",
    "api_requests",
    "api_not_modified",
    "graphql_points",
    "graphql_queries",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m prmon_pipeline.bench.sync_process")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--engine", choices=("direct", "dagster"), default="direct")
    parser.add_argument("--mode", choices=("incremental", "full"), default="incremental")
    parser.add_argument("--concurrency", type=int, default=4, help="repositories at once")
    parser.add_argument(
        "--api", choices=API_MODES, default=SyncOptions.api, help="how check runs are read"
    )
    parser.add_argument("--comparison", choices=COMPARISON_CHOICES, default=SyncOptions.comparison)
    parser.add_argument(
        "--compare-paths",
        action="store_true",
        help="time both comparison paths on the same rows (sync.path_comparison)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    apply_sync_allocator_settings()  # as ``prmon sync`` does, so the figure is the CLI's
    with connect(args.database_url, autocommit=True) as conn:
        repositories = [r.full_name for r in list_repositories(conn)]
    options = SyncOptions(
        mode=args.mode,
        api=args.api,
        comparison=args.comparison,
        compare_paths=args.compare_paths,
    )
    config = GitHubConfig(api_url=args.api_url)  # the client's default bound on requests
    since = datetime.now(UTC)
    started = time.perf_counter()
    if args.engine == "dagster":
        # Imported here so the engine path's peak RSS does not include Dagster's.
        from prmon_pipeline.cli.dagster_runs import sync_through_dagster  # noqa: PLC0415
        from prmon_pipeline.cli.settings import Settings  # noqa: PLC0415

        env = {"PRMON_DATABASE_URL": args.database_url, "PRMON_GITHUB_API_URL": args.api_url}
        sync_through_dagster(Settings(env=env), repositories, concurrency=args.concurrency)
        stage_seconds: dict[str, float] = {}
    else:
        outcomes = asyncio.run(_direct(args.database_url, config, repositories, options, args))
        stage_seconds = summed_stage_seconds(outcomes)
    wall = time.perf_counter() - started
    figures = totals_from_warehouse(args.database_url, since)
    figures["stage_seconds"] = {k: round(v, 3) for k, v in stage_seconds.items()}
    figures["wall_seconds"] = round(wall, 3)
    figures["peak_rss_mb"] = round(peak_rss_kib() / 1024, 1)
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")
    return 0


async def _direct(
    url: str,
    config: GitHubConfig,
    repositories: list[str],
    options: SyncOptions,
    args: argparse.Namespace,
) -> list[SyncOutcome]:
    async with GitHubClient(config) as client:
        return await sync_repositories(
            repositories,
            database_url=url,
            client=client,
            options=options,
            concurrency=args.concurrency,
        )


def peak_rss_kib() -> int:
    """This process's peak resident set (``VmHWM``), in KiB.

    Not ``ru_maxrss``: Linux carries it over ``fork`` and ``exec``, so a sync process started by a
    bench that had grown to 2 GB (the baselines run in the bench's own process) reported 2 GB.
    ``VmHWM`` belongs to the address space, which ``exec`` replaces.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # elsewhere: the best there is


def summed_stage_seconds(outcomes: Sequence[SyncOutcome]) -> dict[str, float]:
    """Seconds per stage, summed over repositories (they overlap in wall time)."""
    seconds = dict.fromkeys(STAGES, 0.0)
    for outcome in outcomes:
        if outcome.figures is not None:
            for stage, value in outcome.figures.seconds.items():
                seconds[stage] = seconds.get(stage, 0.0) + value
    return seconds


def totals_from_warehouse(database_url: str, since: datetime) -> dict[str, object]:
    """The cycle's figures as the audit rows recorded them, whichever engine ran it."""
    with connect(database_url, autocommit=True) as conn:
        runs = read_sync_runs(conn, since)
    figures: dict[str, object] = {
        key: sum(int(getattr(run, key)) for run in runs) for key in COUNTED
    }
    figures["repositories"] = len(runs)
    figures["failed"] = [
        f"{run.full_name}: {run.error}" for run in runs if run.status != "succeeded"
    ]
    return figures


if __name__ == "__main__":
    sys.exit(main())
