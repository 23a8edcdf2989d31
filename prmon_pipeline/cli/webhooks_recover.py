"""``prmon webhooks recover``: redeliver what GitHub could not deliver (issue 16).

``--repo OWNER/NAME --hook-id N`` (a repository hook), ``--org ORG --hook-id N`` (an
organization hook) or ``--app`` (the GitHub App's hook, with the App's JWT; the default when
``PRMON_GITHUB_APP_ID`` is set and no hook is named). Prints found / already OK / redelivered,
or ``--json``; exits 1 when a redelivery failed (the checkpoint then stays where it was).
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prmon_pipeline.cli.output import print_json, print_table
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.webhook_recovery import HookScope
from prmon_pipeline.github.app_auth import APP_ID_VARIABLE, load_app_credentials
from prmon_pipeline.github.client import GitHubClient
from prmon_pipeline.github.webhook_deliveries import AppJwtCredentials
from prmon_pipeline.webhooks.recovery import RecoveryResult, recover_hook

COLUMNS = ("hook", "since", "attempts", "found", "already ok", "redelivered", "failed")


def register_recover(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    recover = verbs.add_parser(
        "recover",
        help="redeliver deliveries that never got an OK since the last check",
    )
    where = recover.add_mutually_exclusive_group()
    where.add_argument("--repo", metavar="OWNER/NAME", help="a repository webhook (with --hook-id)")
    where.add_argument("--org", metavar="ORG", help="an organization webhook (with --hook-id)")
    where.add_argument(
        "--app", action="store_true", help=f"the GitHub App's webhook (needs {APP_ID_VARIABLE})"
    )
    recover.add_argument("--hook-id", type=int, metavar="N", help="the webhook's id")
    recover.add_argument("--dry-run", action="store_true", help="list only: redeliver nothing")
    recover.add_argument("--json", action="store_true", help="machine-readable output")
    recover.set_defaults(handler=recover_command)


def hook_scope(args: argparse.Namespace, settings: Settings) -> HookScope:
    """The hook the flags name (validated), or the App's when only the App is configured."""
    if args.repo or args.org:
        if args.hook_id is None:
            raise ConfigurationError("--repo and --org need --hook-id N (the webhook's id)")
        if args.repo:
            return HookScope.repository(args.repo, args.hook_id)
        return HookScope.organization(args.org, args.hook_id)
    if args.hook_id is not None:
        raise ConfigurationError("--hook-id needs --repo OWNER/NAME or --org ORG")
    if args.app or settings.env.get(APP_ID_VARIABLE):
        return HookScope.app()
    raise ConfigurationError(
        f"name a webhook: --repo OWNER/NAME --hook-id N, --org ORG --hook-id N, or --app"
        f" (with {APP_ID_VARIABLE})"
    )


def client_for(scope: HookScope, settings: Settings) -> GitHubClient:
    """The usual client; for the App's hook, one that signs as the App itself (a JWT)."""
    if scope.kind != "app":
        return GitHubClient(settings.github())
    app = load_app_credentials(settings.env)
    if app is None:
        raise ConfigurationError(
            f"--app needs the GitHub App: set {APP_ID_VARIABLE} and its private key"
        )
    return GitHubClient(settings.github(), credentials=AppJwtCredentials(app))


def recover_command(args: argparse.Namespace, settings: Settings) -> int:
    scope = hook_scope(args, settings)
    now = datetime.now(UTC)

    async def check() -> RecoveryResult:
        with settings.warehouse() as conn:
            async with client_for(scope, settings) as client:
                return await recover_hook(client, conn, scope, now, dry_run=args.dry_run)

    result = asyncio.run(check())
    if args.json:
        print_json(result_json(result))
    else:
        title = (
            "webhook recovery (dry run: nothing redelivered)"
            if args.dry_run
            else "webhook recovery"
        )
        print_table(title, COLUMNS, [summary_row(result)])
        for guid, reason in result.failed.items():
            print(f"  not redelivered {guid}: {reason}")
    return 1 if result.failed else 0


def summary_row(result: RecoveryResult) -> list[object]:
    return [
        result.hook,
        result.since.isoformat(timespec="seconds"),
        result.attempts,
        result.found,
        result.already_ok,
        len(result.redelivered),
        len(result.failed),
    ]


def result_json(result: RecoveryResult) -> dict[str, Any]:
    return {**asdict(result), "pending": result.pending}
