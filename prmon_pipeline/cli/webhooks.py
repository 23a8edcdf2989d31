"""``prmon webhooks serve|recover``: receive GitHub's deliveries, and get back the missed ones."""

from __future__ import annotations

import argparse
import asyncio
import signal

from prmon_pipeline.cli.output import stderr
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.cli.webhooks_recover import register_recover
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.webhook_signature import SignatureSecret
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.sync.events import apply_continuously
from prmon_pipeline.sync.options import SyncOptions
from prmon_pipeline.sync.results import SyncOutcome, delivery_figures
from prmon_pipeline.warehouse.webhook_inbox import DeliveryInbox
from prmon_pipeline.webhooks.receiver import WebhookReceiver
from prmon_pipeline.webhooks.server import Applier, bind, event_loop, run_receiver

SECRET_VARIABLE = "PRMON_WEBHOOK_SECRET"  # noqa: S105  # the variable's name, not a secret
STARTED = "receiving GitHub webhooks at "
"""How ``webhooks serve`` says it is listening: the delivery URL follows (``started_url``)."""


def started_url(line: str) -> str:
    """The delivery URL from ``webhooks serve``'s first line (what a parent process waits for)."""
    return line.removeprefix(STARTED).split()[0].rstrip(";")


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
    """``--apply``: stored deliveries applied as they arrive, one line per repository round."""
    github = settings.github()

    def report(outcome: SyncOutcome) -> None:
        if outcome.error is not None:
            stderr.print(f"{outcome.repository}: {outcome.error}", markup=False, highlight=False)
        elif outcome.figures is not None:
            figures = delivery_figures(outcome.figures.deliveries)
            shown = ", ".join(
                f"{k.removeprefix('deliveries_')} {v}" for k, v in figures.items() if v
            )
            print(f"{outcome.repository}: deliveries {shown or 'none'}", flush=True)

    async def apply(stop: asyncio.Event) -> None:
        async with GitHubClient(github) as client:
            await apply_continuously(settings.database_url, client, SyncOptions(), stop, report)

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
        print(f"{STARTED}{url}{applying}; Ctrl-C stops", flush=True)

    try:
        with sock, asyncio.Runner(loop_factory=event_loop) as runner:
            runner.run(run_receiver(receiver, sock, applier=applier, on_started=started))
    except KeyboardInterrupt:
        pass
    print("webhook receiver stopped", flush=True)
    return 0
