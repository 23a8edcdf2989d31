"""``prmon webhooks recover``: redeliver what GitHub could not deliver."""

from __future__ import annotations

import argparse

from prmon_pipeline.cli.settings import Settings


def register_recover(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    recover = verbs.add_parser("recover", help="redeliver failed deliveries")
    recover.set_defaults(handler=recover_command)


def recover_command(args: argparse.Namespace, settings: Settings) -> int:
    return 2
