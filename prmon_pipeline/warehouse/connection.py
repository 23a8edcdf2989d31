"""How every part of the project reaches the warehouse: one URL, one ``connect`` function.

``PRMON_DATABASE_URL`` names an external PostgreSQL; without it an embedded server is started under
``PRMON_HOME`` (default ``./.prmon``). Either way the server must be PostgreSQL 15 or newer,
because the load relies on ``MERGE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from prmon_pipeline.core.errors import WarehouseError
from prmon_pipeline.warehouse.embedded import start_embedded

MINIMUM_SERVER_VERSION = 150000
DEFAULT_HOME = Path(".prmon")


def prmon_home(env: Mapping[str, str] | None = None) -> Path:
    """The directory holding the embedded database and other local state."""
    env = os.environ if env is None else env
    return Path(env.get("PRMON_HOME") or DEFAULT_HOME)


def database_url(env: Mapping[str, str] | None = None) -> str:
    """The warehouse URL: ``PRMON_DATABASE_URL``, else the embedded server (started if needed)."""
    env = os.environ if env is None else env
    url = env.get("PRMON_DATABASE_URL")
    if url:
        return url
    return start_embedded(prmon_home(env)).url


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print in an error."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def sqlalchemy_url(url: str) -> str:
    """The same database as a ``postgresql+psycopg2://`` URL for Dagster's own storage.

    SQLAlchemy 2.1 picks psycopg 3 for a bare ``postgresql://`` and dagster-postgres then breaks.
    """
    scheme, _, rest = url.partition("://")
    if scheme not in {"postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"}:
        raise WarehouseError(f"not a PostgreSQL URL: {redact_url(url)}")
    return f"postgresql+psycopg2://{rest}"


def connect(
    url: str, *, autocommit: bool = False, application_name: str = "prmon"
) -> psycopg.Connection:
    """Open a connection and check the server is new enough, with a one-line error otherwise."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, application_name=application_name)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WarehouseError(f"cannot reach PostgreSQL at {redact_url(url)}: {reason}") from exc
    version = conn.info.server_version
    if version < MINIMUM_SERVER_VERSION:
        conn.close()
        raise WarehouseError(
            f"PostgreSQL {version // 10000}.{version % 10000} at {redact_url(url)} is older"
            " than 15; prmon needs 15 or newer for MERGE"
        )
    return conn


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (for throwaway test databases)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))
