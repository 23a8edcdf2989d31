"""``prmon bench``: measure the pipeline and its baselines on this machine (see bench/)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from prmon_pipeline.bench.report import print_report
from prmon_pipeline.bench.runner import BenchConfig, run_benchmark
from prmon_pipeline.cli.output import print_table, stderr, stdout
from prmon_pipeline.cli.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser("bench", help="measure speed and memory against baselines")
    bench.add_argument("--quick", action="store_true", help="a tiny world (seconds, for tests)")
    bench.add_argument("--repos", type=int, help="repositories (100)")
    bench.add_argument("--prs", type=int, help="PRs per repository (1000)")
    bench.add_argument("--checks", type=int, help="check runs per head SHA (8)")
    bench.add_argument("--huge-prs", type=int, help="PRs of the single huge repository (100000)")
    bench.add_argument("--no-dagster", action="store_true", help="skip the Dagster cold sync")
    bench.add_argument("--no-baselines", action="store_true", help="skip the baselines")
    bench.add_argument("--no-huge", action="store_true", help="skip the huge repository")
    bench.add_argument("--no-events", action="store_true", help="skip the webhook events")
    bench.add_argument(
        "--only", choices=("events",), help="one scenario alone (after the cold sync it needs)"
    )
    bench.add_argument(
        "--output", type=Path, default=Path("bench-results/latest.json"), help="JSON figures"
    )
    bench.set_defaults(handler=bench_command)


def bench_command(args: argparse.Namespace, settings: Settings) -> int:
    config = BenchConfig.quick_config() if args.quick else BenchConfig()
    overrides = {
        "repositories": args.repos,
        "prs": args.prs,
        "checks": args.checks,
        "huge_prs": args.huge_prs,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    config = replace(
        config,
        dagster=config.dagster and not args.no_dagster,
        baselines=config.baselines and not args.no_baselines,
        huge=config.huge and not args.no_huge,
        events=config.events and not args.no_events,
        only=args.only,
    )
    results = run_benchmark(
        settings.database_url, config, lambda line: stderr.print(line, highlight=False)
    )
    print_report(results, print_table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    stdout.print(f"figures written to {args.output}")
    return 0
