"""The embedded server starts on a fresh PRMON_HOME, is reused, and stops cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from prmon_pipeline.warehouse.connection import connect, database_url
from prmon_pipeline.warehouse.embedded import start_embedded, stop_embedded


@pytest.mark.postgres
def test_embedded_server_starts_is_reused_and_stops(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = start_embedded(home)
    try:
        second = start_embedded(home)
        assert second.pid == first.pid
        assert database_url({"PRMON_HOME": str(home)}) == first.url
        with connect(first.url) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(str(version[0])) >= 150000
    finally:
        assert stop_embedded(home) is True
    assert not (home / "pgdata" / "postmaster.pid").exists()
    assert stop_embedded(home) is False


def test_database_url_prefers_the_environment() -> None:
    url = "postgresql://u@db.example:5432/prmon"
    assert database_url({"PRMON_DATABASE_URL": url}) == url
