"""The ``prmon`` command line: one module per verb, errors as one line and a non-zero exit."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from prmon_pipeline.cli import bench, db, demo, dev, fakehub, repos, status, sync, webhooks
from prmon_pipeline.cli.output import fail
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.core.errors import PrmonError

VERB_MODULES = (db, repos, sync, status, fakehub, webhooks, demo, dev, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prmon",
        description="Mirror GitHub pull requests, check runs and PR state history into PostgreSQL.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in VERB_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``prmon`` command and return its exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_options_through", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        code: int = args.handler(args, Settings())
    except PrmonError as exc:
        fail(str(exc))
        return 2
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    return code


def entry_point() -> None:
    """The console script: ``prmon ...``."""
    sys.exit(main())
