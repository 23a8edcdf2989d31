"""``prmon repos add|remove|list|refresh``: the registry of repositories (one Dagster partition
each), by name or by ``owner/*`` pattern (``cli/repo_patterns.py``)."""

from __future__ import annotations

import argparse

from prmon_pipeline.cli import repo_patterns
from prmon_pipeline.cli.output import print_json, print_table, stdout
from prmon_pipeline.cli.settings import Settings
from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.core.repo_key import RepoKey, parse_repo_key
from prmon_pipeline.core.repo_pattern import RepoPattern, is_repo_pattern, parse_repo_pattern
from prmon_pipeline.warehouse.patterns import RepositorySource, list_patterns, repository_sources
from prmon_pipeline.warehouse.repositories import (
    Repository,
    add_repository,
    list_repositories,
    remove_repository,
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    repos = commands.add_parser("repos", help="register, remove and list repositories")
    verbs = repos.add_subparsers(dest="repos_verb", required=True)
    add = verbs.add_parser(
        "add", help="register repositories (owner/name), or all of an owner's ('owner/*')"
    )
    add.add_argument("repositories", nargs="+", metavar="OWNER/NAME|'OWNER/*'")
    add.add_argument("--forks", action="store_true", help="patterns: include forks")
    add.add_argument("--archived", action="store_true", help="patterns: include archived ones")
    add.add_argument("--json", action="store_true", help="print what patterns added as JSON")
    add.set_defaults(handler=add_command)
    remove = verbs.add_parser("remove", help="stop mirroring repositories, or forget a pattern")
    remove.add_argument("repositories", nargs="+", metavar="OWNER/NAME|'OWNER/*'")
    remove.add_argument(
        "--purge", action="store_true", help="also delete their rows from the warehouse"
    )
    remove.set_defaults(handler=remove_command)
    listing = verbs.add_parser("list", help="list registered repositories and patterns")
    listing.add_argument(
        "--all",
        action="store_true",
        help="include removed repositories, and those retired when their name came to mean"
        " another GitHub repository",
    )
    listing.add_argument("--patterns", action="store_true", help="list the patterns only")
    listing.add_argument("--json", action="store_true", help="print as JSON")
    listing.set_defaults(handler=list_command)
    refresh = verbs.add_parser(
        "refresh", help="list the owners of patterns again: add new, deactivate archived or gone"
    )
    refresh.add_argument("patterns", nargs="*", metavar="'OWNER/*'", help="default: every pattern")
    refresh.add_argument("--json", action="store_true", help="print as JSON")
    refresh.set_defaults(handler=refresh_command)


def _split(texts: list[str]) -> tuple[list[RepoPattern], list[RepoKey]]:
    """Patterns and names, every one validated before anything is written."""
    patterns = [parse_repo_pattern(t) for t in texts if is_repo_pattern(t)]
    keys = [parse_repo_key(t) for t in texts if not is_repo_pattern(t)]
    return patterns, keys


def add_command(args: argparse.Namespace, settings: Settings) -> int:
    patterns, keys = _split(args.repositories)
    if (args.forks or args.archived) and not patterns:
        raise ConfigurationError("--forks and --archived apply to 'OWNER/*' patterns only")
    with settings.warehouse() as conn:
        for key in keys:
            repository = add_repository(conn, key)
            if not args.json:
                stdout.print(f"registered {repository.full_name}")
        changes = repo_patterns.add_patterns(
            conn, settings, patterns, include_forks=args.forks, include_archived=args.archived
        )
    if args.json:
        print_json(
            {
                "registered": [str(k) for k in keys],
                "patterns": [repo_patterns.changes_as_dict(c) for c in changes],
            }
        )
    else:
        repo_patterns.print_changes(changes, "registered pattern")
    return 0


def remove_command(args: argparse.Namespace, settings: Settings) -> int:
    patterns, keys = _split(args.repositories)
    if patterns and args.purge:
        raise ConfigurationError(
            "--purge deletes repositories by name; remove the pattern first, then purge names"
        )
    with settings.warehouse() as conn:
        with conn.transaction():
            for key in keys:
                repository = remove_repository(conn, key, purge=args.purge)
                verb = "purged" if args.purge else "removed"
                stdout.print(f"{verb} {repository.full_name}")
        repo_patterns.remove(conn, patterns)
    return 0


def refresh_command(args: argparse.Namespace, settings: Settings) -> int:
    owners = [parse_repo_pattern(text) for text in args.patterns]
    with settings.warehouse() as conn:
        changes = repo_patterns.refresh(conn, settings, owners)
    if args.json:
        print_json([repo_patterns.changes_as_dict(c) for c in changes])
    elif not changes:
        stdout.print("no patterns registered; add one with: prmon repos add 'OWNER/*'")
    else:
        repo_patterns.print_changes(changes, "refreshed")
    return 1 if any(c.error is not None for c in changes) else 0


def list_command(args: argparse.Namespace, settings: Settings) -> int:
    with settings.warehouse() as conn:
        repositories = list_repositories(conn, include_inactive=args.all, include_retired=args.all)
        sources = repository_sources(conn)
        patterns = list_patterns(conn)
    if args.patterns:
        if args.json:
            print_json([repo_patterns.pattern_as_dict(p) for p in patterns])
        else:
            repo_patterns.print_patterns(patterns)
        return 0
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
                    **_source_fields(sources.get(r.id)),
                }
                for r in repositories
            ]
        )
        return 0
    print_table(
        "repositories",
        ["repository", "active", "added by", "last success", "failures", "github id", "notes"],
        [
            (
                r.full_name,
                r.active,
                _added_by(sources.get(r.id)),
                r.last_success_at,
                r.failure_count,
                r.github_id,
                _notes(r, sources.get(r.id)),
            )
            for r in repositories
        ],
    )
    if patterns:
        repo_patterns.print_patterns(patterns)
    return 0


def _source_fields(source: RepositorySource | None) -> dict[str, object]:
    if source is None:
        return {}
    owner = source.pattern_owner
    return {
        "added_by_name": source.added_explicitly,
        "added_by_pattern": str(RepoPattern(owner)) if owner is not None else None,
        "archived": source.archived,
        "inactive_reason": source.inactive_reason,
    }


def _added_by(source: RepositorySource | None) -> str:
    """``name``, the pattern, or both: a row added by name is never deactivated by a pattern."""
    if source is None:
        return ""
    origins = ["name"] if source.added_explicitly else []
    if source.pattern_owner is not None:
        origins.append(str(RepoPattern(source.pattern_owner)))
    return ", ".join(origins)


def _notes(repository: Repository, source: RepositorySource | None) -> str:
    notes = [_retired(repository)] if repository.retired_at is not None else []
    if source is not None and source.archived:
        notes.append("archived")
    if source is not None and not repository.active and source.inactive_reason:
        notes.append(f"inactive: {source.inactive_reason}")
    return "; ".join(notes)


def _retired(repository: Repository) -> str:
    """``retired <date>: <reason>`` for a row whose name came to mean another repository."""
    if repository.retired_at is None:
        return ""
    return f"retired {repository.retired_at:%Y-%m-%d}: {repository.retired_reason}"
