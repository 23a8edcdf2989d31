"""A real warehouse and fakehub in process (httpx ASGI transport) for sync tests in new files.

Only ``sync_repository``, ``sync_repositories``, ``SyncOptions`` and ``SyncError`` are imported
from the sync service: those names survive its move into a package.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.fakehub import World
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync import SyncOptions, sync_repository
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.cursors import read_cursors
from prmon_pipeline.warehouse.repositories import add_repository, get_repository

EXACT = SyncOptions(check_runs_lookback=None, refresh_open_checks=True)
"""Every PR's check runs fetched, so the warehouse must equal the world exactly."""


async def no_sleep(_: float) -> None:
    """Rate-limit and back-off waits cost no wall time."""


def register(url: str, world: World) -> None:
    with connect(url, autocommit=True) as conn:
        for name in world.repository_names():
            add_repository(conn, name)


def client_for(app: Any, **config: Any) -> GitHubClient:
    """A client of ``app`` (any ASGI app serving GitHub's routes) that never really sleeps."""
    settings: dict[str, Any] = {"max_retries": 2, "backoff_base": 0.0, **config}
    return GitHubClient(
        GitHubConfig(api_url="http://fakehub.test", **settings),
        transport=httpx.ASGITransport(app=app),
        sleep=no_sleep,
    )


def sync_one(url: str, world: World, client: GitHubClient, name: str) -> Any:
    """One ``sync_repository`` at the world's simulated time; returns its result."""
    return asyncio.run(
        sync_repository(name, database_url=url, client=client, options=EXACT, now=lambda: world.now)
    )


def cursors(url: str, name: str) -> SyncCursors:
    with connect(url, autocommit=True) as conn:
        return read_cursors(conn, get_repository(conn, name).id)


def failure(url: str, name: str) -> tuple[int, str | None, list[str]]:
    """(failure count, last error, statuses of its sync runs oldest first)."""
    with connect(url, autocommit=True) as conn:
        repository = get_repository(conn, name)
        statuses = conn.execute(
            "SELECT status FROM prmon.sync_runs WHERE repository_id = %s ORDER BY id",
            (repository.id,),
        ).fetchall()
    return repository.failure_count, repository.last_error, [str(s[0]) for s in statuses]
