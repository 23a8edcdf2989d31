"""``prmon db migrate``: apply the numbered SQL migrations."""

from __future__ import annotations

import argparse

from prmon_pipeline.cli.output import print_json, stdout
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.migrations import migrate


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="warehouse administration")
    verbs = db.add_subparsers(dest="db_verb", required=True)
    run = verbs.add_parser("migrate", help="apply pending migrations (idempotent)")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.set_defaults(handler=migrate_command)


def migrate_command(args: argparse.Namespace, settings: Settings) -> int:
    with connect(settings.database_url, autocommit=True) as conn:
        applied = migrate(conn)
    names = [f"{m.version:03d}_{m.name}" for m in applied]
    if args.json:
        print_json({"applied": names})
    elif names:
        stdout.print(f"applied {len(names)} migration(s): {', '.join(names)}")
    else:
        stdout.print("warehouse schema is up to date")
    return 0
