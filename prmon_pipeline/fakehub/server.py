"""Running the app for real: a uvicorn server on a loopback port, in a thread or standalone.

``serve`` binds the socket itself (port 0 = a free port) before uvicorn starts, so the URL is
known without parsing logs and two test servers never race for a port.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from prmon_pipeline.fakehub.app import GHES_PREFIX, create_app
from prmon_pipeline.fakehub.apps import apps_from_arguments
from prmon_pipeline.fakehub.config import HubConfig, WorldConfig
from prmon_pipeline.fakehub.webhook_faults import KINDS as WEBHOOK_FAULTS
from prmon_pipeline.fakehub.webhook_faults import parse_fault
from prmon_pipeline.fakehub.webhook_hooks import CONTENT_TYPES, KINDS, WebhookSpec
from prmon_pipeline.fakehub.world import World

SECRET_ENV = "PRMON_WEBHOOK_SECRET"  # noqa: S105  # the variable's name, not a secret
"""The webhook secret comes from the environment only (never argv, never printed)."""


@contextmanager
def serve(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a background thread; yields the base URL (with ``/api/v3`` on GHES)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="critical",
        lifespan="off",
        server_header=False,
        access_log=False,
        backlog=2048,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fakehub server did not start")
        time.sleep(0.01)
    hub = getattr(app.state, "hub", None)  # any Starlette app may be served (test receivers)
    prefix = GHES_PREFIX if hub is not None and hub.config.ghes else ""
    try:
        yield f"http://{host}:{bound_port}{prefix}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prmon fakehub serve",
        description="Serve a simulated GitHub REST API and GraphQL endpoint (POST /graphql).",
    )
    parser.add_argument("--repos", type=int, default=3, help="number of repositories")
    parser.add_argument("--prs", type=int, default=50, help="pull requests per repository")
    parser.add_argument("--checks", type=int, default=8, help="check runs per head SHA")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--owner", default="acme")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--rate-limit", type=int, default=5000)
    parser.add_argument(
        "--graphql-rate-limit",
        type=int,
        default=None,
        help="GraphQL points per hour (default: --rate-limit)",
    )
    parser.add_argument("--token", action="append", default=[], help="valid token (repeatable)")
    parser.add_argument("--require-auth", action="store_true")
    parser.add_argument("--ghes", action="store_true", help="serve under /api/v3")
    parser.add_argument(
        "--tick", type=float, default=1.0, help="wall seconds between world advances (0: frozen)"
    )
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per wall second"
    )
    parser.add_argument(
        "--app-id", type=int, help="a GitHub App with this id, installed on --owner's repositories"
    )
    parser.add_argument("--app-public-key", metavar="PEM_FILE", help="the App's public key")
    hooks = parser.add_argument_group(
        "webhooks", f"deliver the world's changes to a URL (secret: ${SECRET_ENV}, never argv)"
    )
    hooks.add_argument("--webhook-url", help="e.g. http://127.0.0.1:8787/webhooks/github")
    hooks.add_argument("--webhook-content-type", choices=CONTENT_TYPES, default="json")
    hooks.add_argument(
        "--webhook-kind",
        choices=KINDS,
        default="repo",
        help="repo: one hook per repository; org: one on --owner; app: the --app-id App's hook",
    )
    hooks.add_argument(
        "--webhook-fault",
        action="append",
        default=[],
        metavar="KIND[:RATE]",
        help=f"inject a webhook fault (repeatable): {', '.join(WEBHOOK_FAULTS)}",
    )
    hooks.add_argument("--fault-seed", type=int, default=0, help="seed of injected faults")
    return parser


def webhook_specs(args: argparse.Namespace) -> tuple[WebhookSpec, ...]:
    """The hook ``--webhook-url`` asks for, signed with ``$PRMON_WEBHOOK_SECRET`` if set."""
    if not args.webhook_url:
        return ()
    spec = WebhookSpec(
        args.webhook_url,
        kind=args.webhook_kind,
        content_type=args.webhook_content_type,
        secret=os.environ.get(SECRET_ENV) or None,
        target=str(args.app_id) if args.webhook_kind == "app" and args.app_id else None,
    )
    return (spec,)


def hub_config(args: argparse.Namespace) -> HubConfig:
    """The HTTP behaviour the command line asks for."""
    return HubConfig(
        rate_limit=args.rate_limit,
        graphql_rate_limit=args.graphql_rate_limit,
        require_auth=args.require_auth,
        valid_tokens=frozenset(args.token),
        ghes=args.ghes,
        apps=apps_from_arguments(args.app_id, args.app_public_key, args.owner),
        webhooks=webhook_specs(args),
        webhook_faults=tuple(parse_fault(text) for text in args.webhook_fault),
        fault_seed=args.fault_seed,
    )


def webhook_summary(config: HubConfig) -> list[str]:
    """Where deliveries go and whether they are signed (the secret itself never)."""
    lines = []
    for spec in config.webhooks:
        signed = "signed" if spec.secret else f"UNSIGNED (set ${SECRET_ENV} to sign)"
        lines.append(
            f"webhooks: {spec.kind} hook -> {spec.url} ({spec.content_type}, {signed};"
            f" events {', '.join(spec.events)})"
        )
    return lines


def served_summary(world: World, url: str) -> str:
    """What a user needs to point prmon at this server: its URL, repositories and PR counts.

    The first line is the banner scripts wait for; the last two are commands to copy as they are.
    """
    names = world.repository_names()
    width = max((len(name) for name in names), default=0)
    lines = [f"fakehub serving {len(names)} repositories at {url}"]
    for name in names:
        repo = world.find_repository(name)
        count = len(repo.pulls) if repo is not None else 0
        lines.append(f"  {name:<{width}}  {count} pull requests")
    lines.append("to sync them, in another shell:")
    lines.append(f"  export PRMON_GITHUB_API_URL={url}")
    lines.append(f"  prmon repos add {' '.join(names)}")
    lines.append("  prmon sync --all")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``prmon fakehub serve``: serve until interrupted, advancing the world on a tick."""
    args = argument_parser().parse_args(argv)
    world = World(
        WorldConfig(
            seed=args.seed,
            repositories=args.repos,
            prs_per_repository=args.prs,
            check_runs_per_sha=args.checks,
            owner=args.owner,
        )
    )
    config = hub_config(args)
    app = create_app(world, config)
    # Ctrl-C, `kill -INT` and a plain `kill` all stop the server, even when this process was
    # started with SIGINT ignored (a shell's background job, which Python then leaves ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with serve(app, host=args.host, port=args.port) as url:
        print(served_summary(world, url), flush=True)
        for line in webhook_summary(config):
            print(line, flush=True)
        try:
            while True:
                time.sleep(args.tick if args.tick > 0 else 3600)
                if args.tick > 0:
                    world.advance(args.tick * args.speed)
        except KeyboardInterrupt:
            pass
        finally:
            app.state.hub.webhooks.close()
    return 0
