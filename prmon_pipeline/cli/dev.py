"""``prmon dev``: the embedded services, then ``dagster dev`` with automation on.

The embedded PostgreSQL (unless ``PRMON_DATABASE_URL`` is set), the webhook receiver and fakehub
start first; the simulated world then advances in a background thread, so the UI shows live
materializations: fakehub's webhooks (applied by ``webhook_deliveries_sensor``) within seconds,
and what the change sensor's polls find. Dagster keeps its own state under ``$PRMON_HOME/dagster``
(SQLite: a development instance). Ctrl-C stops ``dagster dev``, fakehub and the embedded server,
in that order.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from prmon_pipeline.cli.demo import embedded_warehouse
from prmon_pipeline.cli.output import stdout
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.cli.webhooks import SECRET_VARIABLE, STARTED, started_url
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.fakehub import HubConfig, WebhookSpec, World, WorldConfig, create_app, serve
from prmon_pipeline.github.app_auth import APP_VARIABLES
from prmon_pipeline.warehouse.repositories import add_repository

DEV_INSTANCE_YAML = """\
# Written by `prmon dev`: a development instance (SQLite under this directory).
telemetry:
  enabled: false
concurrency:
  pools:
    granularity: op
    default_limit: 2
"""
# The repository's workspace.yaml, but loading the definitions through the module that first
# silences Dagster's Beta/Preview/Supersession notices (see prmon_pipeline.dagster_notices).
DEV_WORKSPACE_YAML = """\
# Written by `prmon dev`: the prmon code location, Dagster's Beta/Preview notices silenced.
load_from:
  - python_module:
      module_name: prmon_pipeline.dagster_location
      attribute: defs
      location_name: prmon
"""
# `python -m dagster …` with the same notices silenced in the command's own process.
DAGSTER = (sys.executable, "-m", "prmon_pipeline.dagster_notices")
AUTOMATION = ("repository_change_sensor", "repository_refresh_schedule")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = commands.add_parser("dev", help="embedded services + dagster dev, automation on")
    dev.add_argument("--port", type=int, default=3000, help="Dagster UI port (3000)")
    dev.add_argument("--repos", type=int, default=3, help="simulated repositories (3)")
    dev.add_argument("--prs", type=int, default=200, help="PRs per simulated repository (200)")
    dev.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per wall second (60)"
    )
    dev.add_argument(
        "--real", action="store_true", help="use PRMON_GITHUB_API_URL/GITHUB_TOKEN, no fakehub"
    )
    dev.set_defaults(handler=dev_command)


def _advance_forever(world: World, speed: float, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        world.advance(speed)


def dev_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.real and not settings.has_github_credentials:
        raise ConfigurationError("--real needs GITHUB_TOKEN (or a GitHub App) to be set")
    with ExitStack() as stack:
        settings = stack.enter_context(embedded_warehouse(settings))
        if not args.real:
            settings = _simulated_github(stack, settings, args)
        dagster_home = (settings.home / "dagster").resolve()
        dagster_home.mkdir(parents=True, exist_ok=True)
        (dagster_home / "dagster.yaml").write_text(DEV_INSTANCE_YAML)
        workspace = dagster_home / "workspace.yaml"
        workspace.write_text(DEV_WORKSPACE_YAML)
        env = {
            **os.environ,
            **settings.env,
            "PRMON_DATABASE_URL": settings.database_url,
            "DAGSTER_HOME": str(dagster_home),
        }
        if not args.real:
            for name in APP_VARIABLES:  # the simulator has no GitHub App
                env.pop(name, None)
        env.setdefault("GITHUB_TOKEN", "fakehub")  # any token works against the simulator
        return _run_dagster_dev(env, args.port, workspace)


def _simulated_github(stack: ExitStack, settings: Settings, args: argparse.Namespace) -> Settings:
    start = datetime.now(UTC).replace(microsecond=0)
    world = World(
        WorldConfig(seed=2026, repositories=args.repos, prs_per_repository=args.prs, start=start)
    )
    hook = _webhook_receiver(stack, settings)
    url = stack.enter_context(serve(create_app(world, HubConfig(webhooks=(hook,)))))
    stop = threading.Event()
    ticker = threading.Thread(target=_advance_forever, args=(world, args.speed, stop), daemon=True)
    ticker.start()
    stack.callback(stop.set)
    stdout.print(f"fakehub serving {args.repos} simulated repositories at {url}")
    settings = settings.for_simulator(url)
    with settings.warehouse() as conn:
        for name in world.repository_names():
            add_repository(conn, name)
    return settings


def _webhook_receiver(stack: ExitStack, settings: Settings) -> WebhookSpec:
    """``prmon webhooks serve`` on a free port with a secret made for this session, and the
    organisation hook fakehub delivers to it: a change on the simulated GitHub is stored at
    once and ``webhook_deliveries_sensor`` applies it without a poll."""
    secret = secrets.token_hex(20)
    env = {**settings.env, "PRMON_DATABASE_URL": settings.database_url, SECRET_VARIABLE: secret}
    process = subprocess.Popen(
        [sys.executable, "-m", "prmon_pipeline.cli", "webhooks", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    stack.callback(_stop, process)
    assert process.stdout is not None
    banner = process.stdout.readline()
    if not banner.startswith(STARTED):
        raise ConfigurationError("the webhook receiver did not start (see the lines above)")
    receiver_url = started_url(banner)
    stdout.print(f"webhook receiver at {receiver_url} (fakehub delivers there, signed)")
    return WebhookSpec(receiver_url, kind="org", content_type="json", secret=secret)


def _stop(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """Ctrl-C for a child (it stops cleanly), a kill if it has not within ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_dagster_dev(env: dict[str, str], port: int, workspace: Path) -> int:
    # Ctrl-C and a plain `kill` both stop everything, even when this process was started with
    # SIGINT ignored (as a shell does for background jobs, which Python then leaves ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    command = [*DAGSTER, "dev", "-w", str(workspace), "-p", str(port)]
    process = subprocess.Popen(command, env=env)  # noqa: S603 - fixed arguments
    try:
        if _wait_for_ui(port, process):
            _start_automation(env, workspace)
            stdout.print(f"Dagster UI at http://127.0.0.1:{port} — Ctrl-C stops everything")
        return process.wait()
    except KeyboardInterrupt:
        _stop(process, timeout=30)
        return 0


def _wait_for_ui(port: int, process: subprocess.Popen[bytes], seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def _start_automation(env: dict[str, str], workspace: Path) -> None:
    """Turn on the change sensor and the periodic refresh (off by default in deployments)."""
    for name in AUTOMATION:
        kind = "sensor" if name.endswith("sensor") else "schedule"
        subprocess.run(  # noqa: S603 - fixed arguments
            [*DAGSTER, kind, "start", name, "-w", str(workspace)],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
