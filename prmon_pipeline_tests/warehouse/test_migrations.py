"""Migrations on a real PostgreSQL: from empty, idempotent, concurrent, edited files refused."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from prmon_pipeline.core.errors import MigrationError, WarehouseError
from prmon_pipeline.warehouse.connection import connect, with_database
from prmon_pipeline.warehouse.migrations import load_migrations, migrate
from prmon_pipeline_tests.databases import throwaway_database


@pytest.fixture
def fresh_database_url(server_url: str) -> Iterator[str]:
    yield from throwaway_database(server_url, "prmon_test_migrate")


def _ledger(url: str) -> list[tuple[object, ...]]:
    with connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT version, name, checksum FROM prmon.schema_migrations ORDER BY version"
        ).fetchall()


def test_migrations_apply_from_empty_and_are_idempotent(fresh_database_url: str) -> None:
    files = load_migrations()
    with connect(fresh_database_url, autocommit=True) as conn:
        first = migrate(conn)
        second = migrate(conn)
    assert [m.version for m in first] == [m.version for m in files]
    assert second == []
    assert [row[0] for row in _ledger(fresh_database_url)] == [m.version for m in files]


def test_two_concurrent_migrators_do_not_collide(fresh_database_url: str) -> None:
    results: list[object] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with connect(fresh_database_url, autocommit=True) as conn:
                barrier.wait()
                results.append(len(migrate(conn)))
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == sorted([0, len(load_migrations())], key=str)
    assert len(_ledger(fresh_database_url)) == len(load_migrations())


def test_edited_applied_migration_is_refused(
    fresh_database_url: str, sql_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(sql_dir, copy)
    with connect(fresh_database_url, autocommit=True) as conn:
        migrate(conn, copy)
        first = sorted(copy.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(
            MigrationError, match=r"001_warehouse\.sql was edited after it was applied"
        ):
            migrate(conn, copy)


def test_a_failing_migration_rolls_back_and_names_the_file(
    fresh_database_url: str, sql_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(sql_dir, copy)
    (copy / "900_broken.sql").write_text("CREATE TABLE prmon.half_done (x int);\nSELECT 1/0;\n")
    with connect(fresh_database_url, autocommit=True) as conn:
        with pytest.raises(MigrationError, match=r"900_broken\.sql failed: division by zero"):
            migrate(conn, copy)
        exists = conn.execute("SELECT to_regclass('prmon.half_done')").fetchone()
    assert exists == (None,)
    assert 900 not in [row[0] for row in _ledger(fresh_database_url)]


def test_bad_migration_file_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNN_name\.sql"):
        load_migrations(tmp_path)


def test_unreachable_server_gives_one_line_without_the_password() -> None:
    bad = with_database("postgresql://nobody:s3cret@127.0.0.1:1/x", "none")
    with pytest.raises(WarehouseError) as caught:
        connect(bad)
    message = str(caught.value)
    assert message.startswith("cannot reach PostgreSQL at postgresql://nobody:***@127.0.0.1:1/none")
    assert "s3cret" not in message
    assert "\n" not in message
