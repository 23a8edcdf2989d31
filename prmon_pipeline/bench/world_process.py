"""fakehub in a process of its own, steered over standard input, for the benchmark.

The simulator must not share the sync's CPU time or memory figures, so it runs here: the world is
generated, served on a free loopback port (the URL is the first line printed), and then one JSON
command per input line is answered with one JSON line:

``{"advance": SECONDS}`` evolve the world; ``{"stats": true}`` request counters, REST units
and GraphQL points spent; ``{"truth": true}`` each repository's PR count and newest ``updated_at``;
``{"reset": true}`` zero the counters and refill the rate limit; ``{"quit": true}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve

BENCH_RATE_LIMIT = 10_000_000  # the benchmark counts units; it must never be throttled


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m prmon_pipeline.bench.world_process")
    parser.add_argument("--repos", type=int, required=True)
    parser.add_argument("--prs", type=int, required=True)
    parser.add_argument("--checks", type=int, required=True)
    parser.add_argument("--churn", type=float, default=0.01, help="PR share changed per cycle")
    parser.add_argument("--cycle", type=float, default=600.0, help="simulated seconds per cycle")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--open-fraction",
        type=float,
        default=0.1,
        help="share of PRs open (0.1: an active repository with a year of history)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    # events_per_hour such that one cycle changes about `churn` of each repository's PRs
    events_per_hour = args.prs * args.churn * 3600.0 / args.cycle
    world = World(
        WorldConfig(
            seed=args.seed,
            repositories=args.repos,
            prs_per_repository=args.prs,
            check_runs_per_sha=args.checks,
            events_per_hour=events_per_hour,
            open_fraction=args.open_fraction,
            # The simulated present is now, so the sync's check-run look-back (30 days of
            # closed PRs) covers what it would on a live repository.
            start=datetime.now(UTC).replace(microsecond=0),
        )
    )
    app = create_app(world, HubConfig(rate_limit=BENCH_RATE_LIMIT))
    hub = app.state.hub
    with serve(app) as url:
        _reply({"url": url, "generate_seconds": round(time.perf_counter() - started, 3)})
        for line in sys.stdin:
            command = orjson.loads(line)
            if "advance" in command:
                world.advance(float(command["advance"]))
                _reply({"now": world.now.isoformat()})
            elif "stats" in command:
                counters = hub.counters
                _reply(
                    {
                        "requests": counters.total,
                        "not_modified": counters.not_modified,
                        "rate_limit_remaining": hub.rate_limit_remaining(),
                        "rate_limit_spent": BENCH_RATE_LIMIT - hub.rate_limit_remaining(),
                        "graphql_points": BENCH_RATE_LIMIT
                        - hub.rate_limit_remaining(None, "graphql"),
                        "graphql_queries": counters.graphql_queries,
                        "by_route": dict(counters.by_route),
                        "by_status": {str(k): v for k, v in counters.by_status.items()},
                    }
                )
            elif "truth" in command:
                _reply(
                    {
                        name: {
                            "pull_requests": len(prs),
                            "newest_updated_at": max((p["updated_at"] for p in prs), default=None),
                        }
                        for name in world.repository_names()
                        for prs in [world.pull_requests(name)]
                    }
                )
            elif "reset" in command:
                hub.counters.reset()
                hub.reset_rate_limit()
                _reply({"reset": True})
            else:
                _reply({"bye": True})
                break
    return 0


def _reply(data: dict[str, object]) -> None:
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
