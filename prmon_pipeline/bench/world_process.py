"""fakehub in a process of its own, steered over standard input, for the benchmark.

The simulator must not share the sync's CPU time or memory figures, so it runs here: the world is
generated, served on a free loopback port (the URL is the first line printed), and then one JSON
command per input line is answered with one JSON line:

``{"advance": SECONDS}`` evolve the world; ``{"stats": true}`` request counters, REST units
and GraphQL points spent; ``{"truth": true}`` each repository's PR count and newest ``updated_at``;
``{"reset": true}`` zero the counters and refill the rate limit; ``{"quit": true}``.

Webhooks (the events scenario): ``{"hook": {"url", "secret", "faults": [[KIND, RATE], …]}}``
one repository hook per repository, faults first; ``{"drain": true}`` wait until every queued
delivery was attempted; ``{"unhook": true}`` remove every hook and fault;
``{"deliveries": true}`` every delivery the hooks got (GUID, hook id,
event, action, world time, whether an attempt was OK) and the completed check runs delivered;
``{"pulls": true}`` every PR as (number, updated_at, state, title, head SHA) per repository.
``{"touch": N}`` one simulated second in which N open PRs are edited. ``advance`` and ``touch``
answer the wall time it started and the world time before and after.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve
from prmon_pipeline.fakehub.webhook_faults import WebhookFaultSpec
from prmon_pipeline.fakehub.webhook_hooks import WebhookSpec

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
    rng = random.Random(args.seed)
    hub = app.state.hub
    with serve(app) as url:
        _reply({"url": url, "generate_seconds": round(time.perf_counter() - started, 3)})
        for line in sys.stdin:
            command = orjson.loads(line)
            if "advance" in command:
                wall, before = time.time(), world.now_epoch
                world.advance(float(command["advance"]))
                _reply(
                    {
                        "now": world.now.isoformat(),
                        "wall_started": wall,
                        "epoch_before": before,
                        "epoch_after": world.now_epoch,
                        "attempts": _attempts_made_or_queued(hub),
                    }
                )
            elif (answer := _webhook_answer(command, world, hub, rng)) is not None:
                _reply(answer)
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


def _attempts_made_or_queued(hub: Any) -> int:
    """Delivery attempts so far, counting those still queued or held: the log records an
    attempt only once its POST is answered, which lags the world by thousands on a busy
    step. (``_pending`` is the sender's own count; this is the benchmark's tool process.)"""
    sender = hub.webhooks.sender
    with sender._idle:
        return len(hub.webhooks.log.attempts) + int(sender._pending)


def _webhook_answer(
    command: dict[str, Any], world: World, hub: Any, rng: random.Random
) -> dict[str, object] | None:
    """The answer to a webhook command (module docstring); None for any other command."""
    answers: dict[str, Callable[[], dict[str, object]]] = {
        "touch": lambda: _touch(world, int(command["touch"]), rng),
        "hook": lambda: _add_hooks(hub, command["hook"]),
        "unhook": lambda: _remove_hooks(hub),
        "drain": lambda: {"drained": hub.webhooks.drain(timeout=120.0)},
        "deliveries": lambda: _deliveries(hub),
        "pulls": lambda: {name: _pulls(world, name) for name in world.repository_names()},
    }
    for name, answer in answers.items():
        if name in command:
            return answer()
    return None


def _remove_hooks(hub: Any) -> dict[str, object]:
    for hook in list(hub.webhooks.store.hooks.values()):
        hub.webhooks.store.remove(hook)
    hub.webhooks.faults.clear()
    return {"unhooked": True}


def _touch(world: World, count: int, rng: random.Random) -> dict[str, object]:
    """One simulated second, then ``count`` distinct open PRs edited in it (a title change
    each, so every one is a ``pull_request`` delivery with a new ``updated_at``). The wall
    time is taken right before the edits, which are dispatched as they happen."""
    before = world.now_epoch
    world.advance(1)
    with world.lock:
        open_prs = [
            (repo.full_name, pr.number)
            for repo in world.pop.repos
            for pr in repo.pulls.values()
            if pr.state == "open"
        ]
    chosen = rng.sample(open_prs, min(count, len(open_prs)))
    wall = time.time()
    for name, number in chosen:
        world.apply_event(name, number, "edit")
    return {"wall_started": wall, "epoch_before": before, "epoch_after": world.now_epoch}


def _add_hooks(hub: Any, spec: dict[str, Any]) -> dict[str, object]:
    for kind, rate in spec.get("faults", []):
        hub.webhooks.faults.add(WebhookFaultSpec(kind, rate=float(rate)))
    hooks = hub.webhooks.add_hook(WebhookSpec(url=spec["url"], secret=spec["secret"]), ping=False)
    return {"hooks": [[hook.target_name, hook.id] for hook in hooks]}


def _deliveries(hub: Any) -> dict[str, object]:
    """Per (GUID, hook id): event, action, world time, any attempt OK, attempts; completed
    runs."""
    found: dict[tuple[str, int], list[object]] = {}
    completed: dict[str, list[str | None]] = {}
    with hub.webhooks.log.lock:
        attempts = list(hub.webhooks.log.attempts.values())
    for attempt in attempts:
        key = (attempt.guid, attempt.hook_id)
        row = found.setdefault(
            key, [attempt.guid, attempt.hook_id, attempt.event, attempt.action, 0, False, 0]
        )
        row[6] = int(row[6]) + 1  # type: ignore[call-overload]
        if not attempt.redelivery:
            row[4] = attempt.delivered_at
        row[5] = bool(row[5]) or attempt.status == "OK"
        if attempt.event == "check_run" and attempt.action == "completed":
            run = orjson.loads(attempt.payload)["check_run"]
            completed[str(run["id"])] = [run["conclusion"], run["head_sha"]]
    return {
        "deliveries": list(found.values()),
        "attempts": len(attempts),
        "completed_runs": completed,
        "faults_fired": dict(hub.webhooks.faults.fired),
    }


def _pulls(world: World, name: str) -> list[list[object]]:
    return [
        [
            pr["number"],
            pr["updated_at"],
            "merged" if pr.get("merged_at") else pr["state"],
            pr["title"],
            pr["head"]["sha"],
        ]
        for pr in world.pull_requests(name)
    ]


def _reply(data: dict[str, object]) -> None:
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
