"""``prmon webhooks serve|recover``: receive GitHub's deliveries, and get back the missed ones."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
from typing import Any, cast

from prmon_pipeline.cli.output import stderr
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.cli.webhooks_recover import register_recover
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.webhook_signature import SignatureSecret
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.sync.options import SyncOptions
from prmon_pipeline.warehouse.webhook_inbox import DeliveryInbox
from prmon_pipeline.webhooks.receiver import WebhookReceiver
from prmon_pipeline.webhooks.server import Applier, bind, event_loop, run_receiver

SECRET_VARIABLE = "PRMON_WEBHOOK_SECRET"  # noqa: S105  # the variable's name, not a secret
APPLIER_MODULE = "prmon_pipeline.sync.events"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    webhooks = commands.add_parser("webhooks", help="receive GitHub webhook deliveries")
    verbs = webhooks.add_subparsers(dest="webhooks_verb", required=True)
    serve = verbs.add_parser(
        "serve",
        help="store signed deliveries (POST /webhooks/github); secret from PRMON_WEBHOOK_SECRET",
    )
    serve.add_argument("--host", default="127.0.0.1", help="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787, help="8787; 0 picks a free port")
    serve.add_argument(
        "--apply", action="store_true", help="also apply stored deliveries continuously"
    )
    serve.add_argument(
        "--insecure-no-secret",
        action="store_true",
        help="accept UNSIGNED deliveries (local experiments only: anyone can write the inbox)",
    )
    serve.set_defaults(handler=serve_command)
    register_recover(verbs)


def webhook_secret(settings: Settings, insecure: bool) -> SignatureSecret | None:
    """The secret from the environment; refusing to go on without one unless ``insecure``."""
    value = settings.env.get(SECRET_VARIABLE, "")
    if value:
        return SignatureSecret(value)
    if not insecure:
        raise ConfigurationError(
            f"{SECRET_VARIABLE} is not set: set it to the webhook's secret"
            " (or pass --insecure-no-secret to accept unsigned deliveries)"
        )
    stderr.print(
        "WARNING: --insecure-no-secret: deliveries are NOT verified; anyone who can reach this"
        " port can write to the inbox. Never expose this server.",
        markup=False,
        highlight=False,
    )
    return None


def continuous_applier(settings: Settings) -> Applier:
    """``sync.events.apply_continuously`` (issue 16's applier), imported only for ``--apply``.

    It is looked up by name so that this receiver builds without it; when it is missing the
    command stops with one line before serving anything.
    """
    try:
        module = importlib.import_module(APPLIER_MODULE)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"--apply needs {APPLIER_MODULE}.apply_continuously, which this installation lacks;"
            " run without --apply and apply with `prmon sync --events`"
        ) from exc
    apply_continuously = cast(Any, module).apply_continuously
    github = settings.github()

    async def apply(stop: asyncio.Event) -> None:
        async with GitHubClient(github) as client:
            await apply_continuously(settings.database_url, client, SyncOptions(), stop)

    return apply


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    # A shell's background job starts with SIGINT ignored: take it back first, so Ctrl-C also
    # stops the start-up (migrations, a slow warehouse); while serving, webhooks.server's
    # handlers take over, and stopping then is a clean exit 0.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    secret = webhook_secret(settings, args.insecure_no_secret)
    applier = continuous_applier(settings) if args.apply else None
    with settings.warehouse():  # migrated, and reachable now (a one-line error otherwise)
        pass
    receiver = WebhookReceiver(DeliveryInbox(settings.database_url), secret)
    sock = bind(args.host, args.port)

    def started(url: str) -> None:
        applying = " (applying deliveries)" if applier is not None else ""
        print(f"receiving GitHub webhooks at {url}{applying}; Ctrl-C stops", flush=True)

    try:
        with sock, asyncio.Runner(loop_factory=event_loop) as runner:
            runner.run(run_receiver(receiver, sock, applier=applier, on_started=started))
    except KeyboardInterrupt:
        pass
    print("webhook receiver stopped", flush=True)
    return 0
