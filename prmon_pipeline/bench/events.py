"""Scenario ``events`` (issue 16, "Measured"): ingest rate, event→row freshness, rate limit
spent by the applier, and a mixed run with faults, forgeries and a killed applier.

* ingest: ``prmon webhooks serve`` (a child process) on a database of its own; the load
  generator (``bench.event_sender``, another process) sends fakehub-rendered, signed
  ``pull_request`` deliveries over keep-alive connections; deliveries/s is what the receiver
  answered 2xx, and ``lost`` compares the rows stored with the deliveries sent.
* freshness: ``serve --apply`` with fakehub's repository hooks pointing at it; the world
  advances in steps. A delivery's latency is the wall time the bench first sees its row
  ``applied`` in ``prmon.webhook_deliveries`` (polled every ``POLL`` s; applied is committed in
  the same transaction as the pull_requests row, so it is the row's visibility) minus the wall
  time the world process *started* the step that produced the event (so it includes fakehub's
  own send queue: an upper bound, as GitHub's send time is). Only ``pull_request`` deliveries.
* rate limit: fakehub's REST units + GraphQL points spent during the freshness run (only the
  applier talks to fakehub then), per applied delivery.
* mixed: receiver alone + ``bench.event_applier`` beside it (so the applier can be SIGKILLed
  while the receiver stays up), fakehub faults duplicate 10 %, reorder 5 %, drop 2 %, the
  bench's forged 5 % and malformed 1 %; the applier is killed half-way and restarted; dropped
  deliveries are recovered through the deliveries API (``webhooks.recovery``), then compared.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prmon_pipeline.bench.event_processes import (
    Child,
    HealthProbe,
    receiver,
    send,
    start_applier,
)
from prmon_pipeline.bench.event_requests import percentile, shares
from prmon_pipeline.core.webhook_events import PARK_WINDOW
from prmon_pipeline.core.webhook_recovery import HookScope
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync.events import apply_pending_deliveries, repositories_with_deliveries
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.webhooks.recovery import recover_hook

Say = Callable[[str], None]
POLL = 0.05
MIXED_FAULTS = (("duplicate", 0.10), ("reorder", 0.05), ("drop", 0.02))
FORGED, MALFORMED = 0.05, 0.01


@dataclass(frozen=True)
class EventsConfig:
    """Sizes of the three parts."""

    ingest: int = 10_000
    connections: int = 64
    freshness_steps: int = 30
    step_pause: float = 1.0
    """Wall seconds between two world steps of the freshness run."""
    step_changes: int = 20
    """PRs edited per world step of the freshness run."""
    mixed_advance: float = 60.0
    """Simulated seconds per world step of the mixed run (PR events and check-run moves)."""
    mixed: int = 10_000
    settle_timeout: float = 180.0
    sensor: bool = True
    """Also measure freshness through the Dagster sensor (``bench.event_sensor``)."""

    @classmethod
    def quick(cls) -> EventsConfig:
        return cls(
            ingest=300,
            connections=8,
            freshness_steps=3,
            step_changes=5,
            step_pause=0.3,
            mixed=200,
            mixed_advance=10.0,
            sensor=False,
            settle_timeout=60.0,
        )


def _count_rows(url: str, hook_ids: set[int] | None = None) -> dict[str, int]:
    """Stored deliveries by status (of ``hook_ids`` only, when given)."""
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM prmon.webhook_deliveries"
            " WHERE %(all)s OR hook_id = ANY(%(hooks)s) GROUP BY status",
            {"all": hook_ids is None, "hooks": sorted(hook_ids or ())},
        ).fetchall()
    return {str(status): int(str(count)) for status, count in rows}


def measure_ingest(server_url: str, config: EventsConfig, say: Say) -> dict[str, object]:
    """Signed deliveries/s the receiver stores, on a database of its own."""
    from prmon_pipeline.bench.runner import bench_database  # noqa: PLC0415 - no import cycle

    secret = secrets.token_hex(16)
    with bench_database(server_url) as url, receiver(url, secret) as (child, delivery_url):
        cpu = child.cpu_seconds()
        say(f"events: ingest of {config.ingest} signed deliveries…")
        sent = send(
            "ingest",
            delivery_url,
            secret,
            f"--count={config.ingest}",
            f"--connections={config.connections}",
        )
        receiver_cpu = child.cpu_seconds() - cpu
        stored = sum(_count_rows(url).values())
    statuses = sent["statuses"]
    assert isinstance(statuses, dict)
    accepted = sum(v for k, v in statuses.items() if k.startswith("2"))
    seconds = float(str(sent["seconds"]))
    return {
        "sent": sent["sent"],
        "accepted": accepted,
        "stored": stored,
        "lost": int(str(sent["sent"])) - stored,
        "seconds": seconds,
        "deliveries_per_second": round(accepted / seconds) if seconds else 0,
        "statuses": statuses,
        "body_bytes_mean": sent["body_bytes_mean"],
        "receiver_cpu_seconds": round(receiver_cpu, 3),
        "sender_cpu_seconds": sent["sending_cpu_seconds"],
        "connections": config.connections,
    }


class AppliedWatch:
    """Polls ``prmon.webhook_deliveries`` and notes when each GUID was first seen applied."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="applied-watch", daemon=True)

    def __enter__(self) -> AppliedWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(POLL):
                rows = conn.execute(
                    "SELECT guid FROM prmon.webhook_deliveries"
                    " WHERE status = 'applied' AND event = 'pull_request'"
                ).fetchall()
                now = time.time()
                for (guid,) in rows:
                    self.seen.setdefault(str(guid), now)


@contextmanager
def _serve_apply(url: str, world: Any, secret: str) -> Iterator[str]:
    """``prmon webhooks serve --apply``: receiver and continuous applier in one process."""
    with receiver(url, secret, apply=True, api_url=world.url) as (_, delivery_url):
        yield delivery_url


@contextmanager
def _serve_sensor(url: str, world: Any, secret: str) -> Iterator[str]:
    """The receiver alone, and the Dagster sensor with its runs (``bench.event_sensor``)."""
    with receiver(url, secret) as (_, delivery_url):
        sensor = start_applier(url, world.url, module="prmon_pipeline.bench.event_sensor")
        try:
            yield delivery_url
        finally:
            sensor.stop()


APPLIERS = {"serve --apply": _serve_apply, "Dagster sensor": _serve_sensor}


def measure_freshness(
    url: str, world: Any, config: EventsConfig, say: Say, through: str = "serve --apply"
) -> dict[str, object]:
    """Event→row latency ``through`` one of ``APPLIERS``, and the rate limit it spends."""
    secret = secrets.token_hex(16)
    with APPLIERS[through](url, world, secret) as delivery_url, AppliedWatch(url) as watch:
        hooks = world.ask(hook={"url": delivery_url, "secret": secret, "faults": []})["hooks"]
        ours = {int(hook_id) for _, hook_id in hooks}
        world.ask(reset=True)
        say(f"events: freshness, {config.freshness_steps} world steps through {through}…")
        steps = []
        for _ in range(config.freshness_steps):
            step = world.ask(touch=config.step_changes)
            steps.append(
                (int(step["epoch_before"]), int(step["epoch_after"]), float(step["wall_started"]))
            )
            time.sleep(config.step_pause)
        world.ask(drain=True)
        delivered = world.ask(deliveries=True)["deliveries"]
        wanted = {
            str(d[0]): int(d[4])
            for d in delivered
            if d[2] == "pull_request" and d[5] and int(d[1]) in ours
        }
        deadline = time.monotonic() + config.settle_timeout
        while time.monotonic() < deadline and not set(wanted) <= set(watch.seen):
            time.sleep(POLL)
        github = world.ask(stats=True)
    world.ask(unhook=True)
    latencies = []
    for guid, at in wanted.items():
        sent = next((wall for before, after, wall in steps if before < at <= after), None)
        if sent is not None and guid in watch.seen:
            latencies.append(watch.seen[guid] - sent)
    counts = _count_rows(url, ours)
    applied = counts.get("applied", 0)
    units, points = int(str(github["rate_limit_spent"])), int(str(github["graphql_points"]))
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    return {
        "pull_request_deliveries": len(wanted),
        "measured": len(latencies),
        "not_seen_applied": len(set(wanted) - set(watch.seen)),
        "latency_p50_seconds": None if p50 is None else round(p50, 3),
        "latency_p95_seconds": None if p95 is None else round(p95, 3),
        "latency_max_seconds": round(max(latencies), 3) if latencies else None,
        "through": through,
        "deliveries_applied": applied,
        "deliveries_by_status": counts,
        "rate_limit_spent": units,
        "graphql_points": points,
        "budget_per_applied_delivery": round((units + points) / applied, 4) if applied else None,
        "github_by_route": github["by_route"],
    }


# --- the mixed run ------------------------------------------------------------------------------


def _pending(url: str) -> int:
    return _count_rows(url).get("pending", 0)


async def _recover(url: str, api_url: str, hooks: list[list[Any]]) -> dict[str, int]:
    """One recovery check per repository hook, as ``prmon webhooks recover --repo`` does."""
    found = redelivered = failed = requests = 0
    async with GitHubClient(GitHubConfig(api_url=api_url)) as client:
        with connect(url, autocommit=True) as conn:
            for name, hook_id in hooks:
                scope = HookScope.repository(str(name), int(hook_id))
                result = await recover_hook(client, conn, scope, datetime.now(UTC))
                found += result.found
                redelivered += len(result.redelivered)
                failed += len(result.failed)
                requests += result.requests
    return {"found": found, "redelivered": redelivered, "failed": failed, "requests": requests}


def _settle(url: str, timeout: float) -> bool:
    """Wait until the applier has nothing left to do now, twice in a row: no fresh pending
    delivery (parked check runs wait for ``PARK_WINDOW``, see ``_final_round``)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        quiet = quiet + 1 if not repositories_with_deliveries(url) else 0
        if quiet >= 2:
            return True
        time.sleep(0.5)
    return False


def measure_mixed(url: str, world: Any, config: EventsConfig, say: Say) -> dict[str, object]:
    """The mixed run (module docstring); returns its counts and whether everything converged."""
    secret = secrets.token_hex(16)
    forged, malformed = shares(config.mixed, FORGED), shares(config.mixed, MALFORMED)
    figures: dict[str, object] = {"forged_sent": forged, "malformed_sent": malformed}
    with receiver(url, secret) as (child, delivery_url), HealthProbe(delivery_url) as probe:
        appliers = [start_applier(url, world.url)]
        try:
            hooks = _mixed_stream(
                url,
                world,
                config,
                figures,
                delivery_url=delivery_url,
                secret=secret,
                appliers=appliers,
                say=say,
            )
            figures["settled"] = _settle(url, config.settle_timeout)
        finally:
            appliers[-1].stop()
        figures["final_round_parked"] = _pending(url)
        asyncio.run(_final_round(url, world.url))
        figures["receiver_alive"] = child.alive()
    figures["health_probes_ok"], figures["health_probes_failed"] = probe.ok, probe.failed
    figures["receiver_duplicates"] = probe.counters.get("duplicates")
    figures["receiver_unauthorized"] = probe.counters.get("unauthorized")
    extras = figures.pop("extras")
    assert isinstance(extras, dict)
    figures["extras_statuses"] = extras.get("statuses", {})
    figures.update(_compare(url, world, extras, {int(h) for _, h in hooks}))
    world.ask(unhook=True)
    return figures


def _mixed_stream(
    url: str,
    world: Any,
    config: EventsConfig,
    figures: dict[str, object],
    *,
    delivery_url: str,
    secret: str,
    appliers: list[Child],
    say: Say,
) -> list[list[Any]]:
    """Hooks with faults, the world advancing, forged and malformed deliveries beside it, the
    applier killed half-way (``appliers`` gets its successor), then recovery. The hooks."""
    forged, malformed = int(str(figures["forged_sent"])), int(str(figures["malformed_sent"]))
    target = config.mixed - forged - malformed
    hooks = world.ask(hook={"url": delivery_url, "secret": secret, "faults": list(MIXED_FAULTS)})[
        "hooks"
    ]
    say(f"events: mixed run of {config.mixed} deliveries with faults and a killed applier…")
    extras: dict[str, object] = {}
    spread = max(2.0, config.mixed / 500)
    sender = threading.Thread(
        target=lambda: extras.update(
            send(
                "extras",
                delivery_url,
                secret,
                f"--forged={forged}",
                f"--malformed={malformed}",
                f"--spread={spread}",
            )
        )
    )
    sender.start()
    before = int(world.ask(advance=0)["attempts"])  # the log holds the freshness run's too
    attempts, killed, step = 0, False, 1.0
    while attempts < target:
        got = int(world.ask(advance=step)["attempts"]) - before
        step = next_step(step, got - attempts, target - got, config.mixed_advance)
        attempts = got
        if not killed and attempts >= target // 2:
            killed = True
            figures["kill"] = _kill(url, appliers[-1])
            appliers.append(start_applier(url, world.url))
    sender.join()
    figures["extras"] = extras
    world.ask(drain=True)
    figures["recovery"] = asyncio.run(_recover(url, world.url, hooks))
    world.ask(drain=True)
    return list(hooks)


def next_step(step: float, produced: int, remaining: int, longest: float) -> float:
    """Simulated seconds for the next world step: about a tenth of what ``remaining`` needs
    at the rate the last ``step`` produced, between 1 s and ``longest`` (a busy world makes
    thousands of deliveries a minute; one step must not overshoot the run's size)."""
    if remaining <= 0:
        return 1.0
    if produced <= 0:
        return min(longest, step * 2)
    wanted = step * max(remaining / 10, 1) / produced
    return max(1.0, min(longest, wanted))


def _kill(url: str, applier: Child) -> dict[str, int]:
    """SIGKILL the applier while it works: once it applied some and some are pending (waiting
    for that up to 10 s)."""
    deadline = time.monotonic() + 10
    before = _count_rows(url)
    while not (before.get("pending") and before.get("applied")) and time.monotonic() < deadline:
        time.sleep(POLL)
        before = _count_rows(url)
    applier.kill()
    applier.stop()  # closes its output
    return {
        "pending_at_kill": before.get("pending", 0),
        "applied_at_kill": before.get("applied", 0),
    }


async def _final_round(url: str, api_url: str) -> None:
    """``prmon sync --events``'s round as it would run once ``PARK_WINDOW`` has passed: check
    runs parked for a PR that never came are given up on (ignored; polling covers them), those
    whose PR came meanwhile are applied. The clock is moved instead of waiting ten minutes."""

    def later() -> datetime:
        return datetime.now(UTC) + PARK_WINDOW + timedelta(seconds=1)

    async with GitHubClient(GitHubConfig(api_url=api_url)) as client:
        await apply_pending_deliveries(url, client, now=later)


def _compare(url: str, world: Any, extras: dict[str, Any], hook_ids: set[int]) -> dict[str, object]:
    """The warehouse against the world, and the inbox against what was sent."""
    truth = world.ask(deliveries=True)
    delivered = [d for d in truth["deliveries"] if int(d[1]) in hook_ids]
    faults = {"drop": 0, **truth["faults_fired"]}
    pulls = world.ask(pulls=True)
    with connect(url, autocommit=True) as conn:
        stored_pulls = conn.execute(
            "SELECT r.full_name, p.number, p.updated_at, p.state, p.title, p.head_sha"
            " FROM prmon.pull_requests p JOIN prmon.repositories r ON r.id = p.repository_id"
            " WHERE p.deleted_at IS NULL"
        ).fetchall()
        rows = conn.execute("SELECT guid, hook_id, status FROM prmon.webhook_deliveries").fetchall()
        runs = conn.execute("SELECT github_id, status, conclusion FROM prmon.check_runs").fetchall()
    ours = {
        (str(name), int(str(number))): [
            updated.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(updated, datetime) else None,
            state,
            title,
            head,
        ]
        for name, number, updated, state, title, head in stored_pulls
    }
    theirs = {
        (name, int(pr[0])): [pr[1], pr[2], pr[3], pr[4]]
        for name, prs in pulls.items()
        for pr in prs
    }
    pr_mismatches = sum(1 for key, value in theirs.items() if ours.get(key) != value)
    pr_mismatches += len(set(ours) - set(theirs))
    heads = {pr[4] for prs in pulls.values() for pr in prs}
    expected_runs = {
        int(run_id): conclusion
        for run_id, (conclusion, head) in truth["completed_runs"].items()
        if head in heads
    }
    stored_runs: dict[int, list[tuple[object, object]]] = {}
    for github_id, status, conclusion in runs:
        stored_runs.setdefault(int(str(github_id)), []).append((status, conclusion))
    run_mismatches = sum(
        1
        for run_id, conclusion in expected_runs.items()
        if not stored_runs.get(run_id)
        or any(row != ("completed", conclusion) for row in stored_runs[run_id])
    )
    by_status: dict[str, int] = {}
    for _, _, status in rows:
        by_status[str(status)] = by_status.get(str(status), 0) + 1
    stored_keys = {(str(g), int(str(h))) for g, h, _ in rows}
    valid = {(str(d[0]), int(d[1])) for d in delivered}
    forged_guids = set(map(str, extras.get("forged_guids", [])))
    malformed = len(extras.get("malformed_guids", []))
    never_ok = sum(1 for d in delivered if not d[5])
    applied_once = (
        valid <= stored_keys
        and by_status.get("pending", 0) == 0
        and by_status.get("applied", 0) + by_status.get("ignored", 0) == len(valid)
        and by_status.get("rejected", 0) == malformed
        and len(rows) == len(valid) + malformed
        and not forged_guids & {g for g, _ in stored_keys}
    )
    converged = pr_mismatches == 0 and run_mismatches == 0 and applied_once and never_ok == 0
    return {
        "deliveries": len(valid) + len(forged_guids) + malformed,
        "valid_deliveries": len(valid),
        "world_attempts": sum(int(d[6]) for d in delivered),
        "posted": sum(int(d[6]) for d in delivered)
        - faults["drop"]
        + len(forged_guids)
        + malformed,
        "faults_fired": faults,
        "deliveries_never_ok": never_ok,
        "deliveries_by_status": by_status,
        "prs_compared": len(theirs),
        "pr_mismatches": pr_mismatches,
        "completed_runs_compared": len(expected_runs),
        "completed_run_mismatches": run_mismatches,
        "valid_applied_once": applied_once,
        "converged": converged,
    }


def run_events(
    server_url: str, url: str, world: Any, config: EventsConfig, say: Say
) -> dict[str, object]:
    """All parts; ``url``'s warehouse must already equal ``world`` (a synced database)."""
    started = time.perf_counter()
    ingest = measure_ingest(server_url, config, say)
    ingested = time.perf_counter()
    freshness = measure_freshness(url, world, config, say)
    if config.sensor:
        freshness["sensor"] = measure_freshness(url, world, config, say, "Dagster sensor")
    freshened = time.perf_counter()
    with connect(url, autocommit=True) as conn:  # the mixed run counts only its own rows
        conn.execute("TRUNCATE prmon.webhook_deliveries")
    mixed = measure_mixed(url, world, config, say)
    ingest["wall_seconds"] = round(ingested - started, 3)
    freshness["wall_seconds"] = round(freshened - ingested, 3)
    mixed["wall_seconds"] = round(time.perf_counter() - freshened, 3)
    return {
        "deliveries_per_second": ingest["deliveries_per_second"],
        "latency_p50_seconds": freshness["latency_p50_seconds"],
        "latency_p95_seconds": freshness["latency_p95_seconds"],
        "rate_limit_spent": freshness["rate_limit_spent"],
        "budget_per_applied_delivery": freshness["budget_per_applied_delivery"],
        "mixed_converged": mixed["converged"],
        "ingest": ingest,
        "freshness": freshness,
        "mixed": mixed,
    }
