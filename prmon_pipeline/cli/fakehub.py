"""``prmon fakehub serve``: the GitHub simulator as a standalone server."""

from __future__ import annotations

import argparse

from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.fakehub import main as fakehub_main


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fakehub = commands.add_parser("fakehub", help="the local GitHub simulator")
    verbs = fakehub.add_subparsers(dest="fakehub_verb", required=True)
    serve = verbs.add_parser(
        "serve",
        help="serve a simulated GitHub (--repos N --prs M --port P; --help for more)",
        add_help=False,
    )
    # The simulator's own parser reads the options (``prmon fakehub serve --help`` shows them).
    serve.set_defaults(handler=serve_command, passes_options_through=True)


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    return fakehub_main(args.extra)
