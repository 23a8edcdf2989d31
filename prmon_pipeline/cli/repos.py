"""``prmon repos add|remove|list``: the registry of repositories (one Dagster partition each)."""

from __future__ import annotations

import argparse

from prmon_pipeline.cli.output import print_json, print_table, stdout
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.core.repo_key import parse_repo_key
from prmon_pipeline.warehouse.repositories import (
    Repository,
    add_repository,
    list_repositories,
    remove_repository,
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    repos = commands.add_parser("repos", help="register, remove and list repositories")
    verbs = repos.add_subparsers(dest="repos_verb", required=True)
    add = verbs.add_parser("add", help="register repositories (owner/name)")
    add.add_argument("repositories", nargs="+", metavar="OWNER/NAME")
    add.set_defaults(handler=add_command)
    remove = verbs.add_parser("remove", help="stop mirroring repositories")
    remove.add_argument("repositories", nargs="+", metavar="OWNER/NAME")
    remove.add_argument(
        "--purge", action="store_true", help="also delete their rows from the warehouse"
    )
    remove.set_defaults(handler=remove_command)
    listing = verbs.add_parser("list", help="list registered repositories")
    listing.add_argument(
        "--all",
        action="store_true",
        help="include removed repositories, and those retired when their name came to mean"
        " another GitHub repository",
    )
    listing.add_argument("--json", action="store_true", help="print as JSON")
    listing.set_defaults(handler=list_command)


def add_command(args: argparse.Namespace, settings: Settings) -> int:
    keys = [parse_repo_key(text) for text in args.repositories]  # validate all before writing
    with settings.warehouse() as conn:
        for key in keys:
            repository = add_repository(conn, key)
            stdout.print(f"registered {repository.full_name}")
    return 0


def remove_command(args: argparse.Namespace, settings: Settings) -> int:
    keys = [parse_repo_key(text) for text in args.repositories]
    with settings.warehouse() as conn, conn.transaction():
        for key in keys:
            repository = remove_repository(conn, key, purge=args.purge)
            verb = "purged" if args.purge else "removed"
            stdout.print(f"{verb} {repository.full_name}")
    return 0


def list_command(args: argparse.Namespace, settings: Settings) -> int:
    with settings.warehouse() as conn:
        repositories = list_repositories(conn, include_inactive=args.all, include_retired=args.all)
    if args.json:
        print_json(
            [
                {
                    "full_name": r.full_name,
                    "active": r.active,
                    "failure_count": r.failure_count,
                    "github_id": r.github_id,
                    "retired_at": r.retired_at,
                    "retired_reason": r.retired_reason,
                }
                for r in repositories
            ]
        )
        return 0
    print_table(
        "repositories",
        ["repository", "active", "last success", "failures", "github id", "retired"],
        [
            (
                r.full_name,
                r.active,
                r.last_success_at,
                r.failure_count,
                r.github_id,
                _retired(r),
            )
            for r in repositories
        ],
    )
    return 0


def _retired(repository: Repository) -> str:
    """``retired <date>: <reason>`` for a row whose name came to mean another repository."""
    if repository.retired_at is None:
        return ""
    return f"retired {repository.retired_at:%Y-%m-%d}: {repository.retired_reason}"
