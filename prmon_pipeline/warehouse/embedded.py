"""An embedded PostgreSQL (pgserver) for machines without one, living under ``PRMON_HOME``.

The server listens on a Unix socket inside the data directory's runtime folder only, so it never
takes a TCP port. It is started on demand, reused while running (by any process that points at
the same directory), and stopped by :func:`stop_embedded` — the ``prmon`` commands that start it
stop it again, and the test fixtures do the same.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prmon_pipeline.core.errors import WarehouseError

_log = logging.getLogger(__name__)
START_ATTEMPTS = 4


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A running embedded server: where its data lives and how to reach it."""

    data_dir: Path
    url: str
    pid: int | None


def start_embedded(home: Path) -> EmbeddedPostgres:
    """Start (or reuse) the embedded server whose data lives in ``home/pgdata``."""
    home.mkdir(parents=True, exist_ok=True)
    data_dir = (home / "pgdata").resolve()
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            # cleanup_mode=None: the server outlives this handle so other processes (the Dagster
            # daemon, a second CLI call) reuse it; stop_embedded() ends it explicitly.
            server = _server(data_dir, cleanup_mode=None)
            break
        except subprocess.TimeoutExpired as exc:
            # pgserver gives pg_ctl 10 s, which a loaded 2-core machine can exceed; the server
            # usually comes up meanwhile, so forget the half-made handle and look again.
            _pgserver().PostgresServer._instances.pop(data_dir, None)
            if attempt == START_ATTEMPTS:
                raise WarehouseError(f"embedded PostgreSQL in {data_dir} did not start") from exc
        except (OSError, subprocess.SubprocessError) as exc:
            raise WarehouseError(f"cannot start embedded PostgreSQL in {data_dir}: {exc}") from exc
    url = str(server.get_uri())
    pid = server.get_pid()
    _log.info("embedded PostgreSQL running in %s (pid %s)", data_dir, pid)
    return EmbeddedPostgres(data_dir=data_dir, url=url, pid=int(pid) if pid else None)


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server under ``home`` if it runs; return whether one was stopped."""
    data_dir = (home / "pgdata").resolve()
    if not (data_dir / "postmaster.pid").exists():
        return False
    server = _server(data_dir, cleanup_mode=None)
    pgserver = _pgserver()

    # pgserver only stops a server when its last handle in the last process closes; prmon decides
    # itself when the server it started should go, so it asks pg_ctl directly ("fast": roll back
    # open transactions and disconnect clients).
    pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=server.system_user)
    atexit.unregister(server._cleanup)  # the handle is spent; a later start makes a new one
    pgserver.PostgresServer._instances.pop(data_dir, None)
    return True


def _server(data_dir: Path, cleanup_mode: str | None) -> Any:
    """A pgserver handle; its import is heavy, so it is paid only when the embedded server is used.

    pgserver keeps its lock file in the XDG runtime directory and warns when none is set (as on
    CI); the fallback it picks is fine, so that warning is silenced here.
    """
    return _pgserver().get_server(data_dir, cleanup_mode=cleanup_mode)


def _pgserver() -> Any:
    """The pgserver module, imported on first use (typed loosely: its API is not annotated)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        return importlib.import_module("pgserver")
