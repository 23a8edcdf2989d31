"""Running the app for real: a uvicorn server on a loopback port, in a thread or standalone.

``serve`` binds the socket itself (port 0 = a free port) before uvicorn starts, so the URL is
known without parsing logs and two test servers never race for a port.
"""

from __future__ import annotations

import argparse
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
from prmon_pipeline.fakehub.world import World


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
    return parser


def hub_config(args: argparse.Namespace) -> HubConfig:
    """The HTTP behaviour the command line asks for."""
    return HubConfig(
        rate_limit=args.rate_limit,
        graphql_rate_limit=args.graphql_rate_limit,
        require_auth=args.require_auth,
        valid_tokens=frozenset(args.token),
        ghes=args.ghes,
        apps=apps_from_arguments(args.app_id, args.app_public_key, args.owner),
    )


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
    app = create_app(world, hub_config(args))
    # Ctrl-C, `kill -INT` and a plain `kill` all stop the server, even when this process was
    # started with SIGINT ignored (a shell's background job, which Python then leaves ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with serve(app, host=args.host, port=args.port) as url:
        print(served_summary(world, url), flush=True)
        try:
            while True:
                time.sleep(args.tick if args.tick > 0 else 3600)
                if args.tick > 0:
                    world.advance(args.tick * args.speed)
        except KeyboardInterrupt:
            pass
    return 0
