"""Throwaway databases for tests: created on a server, dropped (forcibly) afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from prmon_pipeline.warehouse.connection import connect, with_database
from prmon_pipeline.warehouse.migrations import migrate


def throwaway_database(server_url: str, prefix: str, options: str = "") -> Iterator[str]:
    """Yield the URL of a new database on ``server_url``; drop it when the caller is done.

    ``options`` is appended to ``CREATE DATABASE`` (a test's own constant, e.g. a collation).
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{options}')
    try:
        yield with_database(server_url, name)
    finally:
        with connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrated_throwaway_database(server_url: str, prefix: str) -> Iterator[str]:
    """Like :func:`throwaway_database`, with every migration applied before it is yielded."""
    for url in throwaway_database(server_url, prefix):
        with connect(url, autocommit=True) as conn:
            migrate(conn)
        yield url
