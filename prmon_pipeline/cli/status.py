"""``prmon status``: per-repository health and an overall verdict (non-zero exit if unhealthy)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from prmon_pipeline.cli.output import format_age, print_json, print_table, stdout
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.sync.options import FRESHNESS_MAX_AGE
from prmon_pipeline.warehouse.status import read_status
from prmon_pipeline.warehouse.webhook_inbox import delivery_counts


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser("status", help="health of every repository")
    status.add_argument(
        "--max-age",
        type=float,
        default=FRESHNESS_MAX_AGE.total_seconds() / 60,
        metavar="MINUTES",
        help=(
            "a repository is stale when its last success is older"
            f" ({FRESHNESS_MAX_AGE.total_seconds() / 60:.0f}, as the Dagster freshness check)"
        ),
    )
    status.add_argument("--json", action="store_true", help="print as JSON")
    status.set_defaults(handler=status_command)


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    max_age = timedelta(minutes=args.max_age)
    with settings.warehouse() as conn:
        repositories = read_status(conn)
        deliveries = delivery_counts(conn)
    problems = {r.full_name: r.problems(now, max_age) for r in repositories}
    healthy = bool(repositories) and not any(problems.values())
    if args.json:
        print_json(
            {
                "healthy": healthy,
                "webhook_deliveries": deliveries,
                "repositories": [
                    {**r.as_dict(), "problems": problems[r.full_name], "notes": r.notes()}
                    for r in repositories
                ],
            }
        )
    else:
        print_table(
            "repositories",
            [
                "repository",
                "last success",
                "age",
                "failures",
                "PRs",
                "open",
                "open w/ failing checks",
                "check runs",
                "REST left",
                "GraphQL left",
                "problems",
                "notes",
            ],
            [
                (
                    r.full_name,
                    r.last_success_at,
                    format_age(r.age(now)),
                    r.failure_count,
                    r.pull_requests,
                    r.open_pull_requests,
                    r.open_prs_with_failing_checks,
                    r.check_runs,
                    r.rate_limit_remaining,
                    r.graphql_remaining,
                    "; ".join(problems[r.full_name]) or "ok",
                    "; ".join(r.notes()),
                )
                for r in repositories
            ],
        )
        if any(deliveries.values()):
            stdout.print(
                "webhook deliveries: "
                + ", ".join(f"{count} {status}" for status, count in deliveries.items())
            )
        verdict = "healthy" if healthy else "UNHEALTHY"
        if not repositories:
            verdict += " (no repositories registered)"
        stdout.print(f"overall: {verdict}")
    return 0 if healthy else 1
