"""``prmon demo`` as a newcomer runs it: a subprocess, no database configured, no token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.embedded import start_embedded, stop_embedded


@pytest.mark.e2e
def test_demo_on_embedded_defaults(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PRMON_DATABASE_URL", "GITHUB_TOKEN", "PRMON_GITHUB_API_URL"}
    }
    env["PRMON_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "prmon_pipeline.cli", "demo", "--repos", "2", "--prs", "40"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Dagster's notices about its own Beta/Preview APIs are not for the demo's user.
    for notice in ("BetaWarning", "PreviewWarning", "SupersessionWarning"):
        assert notice not in done.stderr and notice not in done.stdout, done.stderr[-2000:]
    out = done.stdout
    assert "starting embedded PostgreSQL" in out and "stopped embedded PostgreSQL" in out
    assert "cold sync of 2 repositories (dagster)" in out
    assert "incremental sync of 2 repositories (dagster)" in out
    assert "free 304s" in out and "state transitions" in out
    # Check runs are read by GraphQL against fakehub by default; the summary shows both pools.
    assert re.search(r"cold sync spent \d+ REST units and [1-9]\d* GraphQL points", out), out
    assert not (home / "pgdata" / "postmaster.pid").exists()  # it stopped what it started
    server = start_embedded(home)
    try:
        with connect(server.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT r.full_name,"
                " (SELECT count(*) FROM prmon.pull_requests p WHERE p.repository_id = r.id),"
                " (SELECT count(*) FROM prmon.sync_runs s WHERE s.repository_id = r.id"
                "  AND s.status = 'succeeded')"
                " FROM prmon.repositories r"
            ).fetchall()
    finally:
        stop_embedded(home)
    assert len(rows) == 2
    for _, prs, runs in rows:
        assert int(str(prs)) >= 40 and int(str(runs)) == 2  # the world grows; two syncs
