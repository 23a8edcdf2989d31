"""Numbered SQL migrations from ``sql/``, applied in order under an advisory lock.

Each file runs in its own transaction and is recorded in ``prmon.schema_migrations`` with a
SHA-256 checksum. A file that was edited after it was applied is refused: the database no longer
matches what the file says, and silently carrying on would hide that.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from prmon_pipeline.core.errors import MigrationError

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
# pg_advisory_lock key shared by every migrator (an arbitrary constant: "prmon" in ASCII).
MIGRATION_LOCK_KEY = 0x70726D6F6E
_FILE_NAME = re.compile(r"(\d{3,})_([a-z0-9_]+)\.sql")

_LEDGER_SQL = """
CREATE SCHEMA IF NOT EXISTS prmon;
CREATE TABLE IF NOT EXISTS prmon.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    """Read ``NNN_name.sql`` files in version order; refuse duplicates and stray names."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"migration file name must be NNN_name.sql: {path.name}")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number in {directory}")
    return migrations


def migrate(
    conn: psycopg.Connection[tuple[object, ...]], directory: Path = SQL_DIR
) -> list[Migration]:
    """Apply pending migrations and return those applied (empty when up to date).

    ``conn`` must be in autocommit mode: the advisory lock is held for the session while each
    file runs in a transaction of its own.
    """
    if not conn.autocommit:
        raise MigrationError("migrate() needs an autocommit connection")
    migrations = load_migrations(directory)
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        with conn.transaction():
            conn.execute(_LEDGER_SQL)
        rows = conn.execute("SELECT version, checksum FROM prmon.schema_migrations").fetchall()
        applied: dict[object, object] = {row[0]: row[1] for row in rows}
        _refuse_edited(migrations, applied)
        pending = [m for m in migrations if m.version not in applied]
        for migration in pending:
            _apply(conn, migration)
        return pending
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _refuse_edited(migrations: list[Migration], applied: dict[object, object]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:03d}_{migration.name}.sql was edited after it was"
                " applied (checksum differs); add a new migration instead of editing this one"
            )


def _apply(conn: psycopg.Connection[tuple[object, ...]], migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO prmon.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MigrationError(
            f"migration {migration.version:03d}_{migration.name}.sql failed: {first_line}"
        ) from exc
