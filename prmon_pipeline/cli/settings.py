"""The CLI's view of the environment, read once per command (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import psycopg

from prmon_pipeline.github.app_auth import (
    APP_ID_VARIABLE,
    APP_VARIABLES,
    KEY_FILE_VARIABLE,
    KEY_VARIABLE,
    load_app_credentials,
)
from prmon_pipeline.github.client import GitHubConfig
from prmon_pipeline.sync.options import DEFAULT_API_URL
from prmon_pipeline.warehouse.connection import connect, database_url, prmon_home
from prmon_pipeline.warehouse.migrations import migrate

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class Settings:
    """``PRMON_DATABASE_URL``, ``PRMON_HOME``, ``PRMON_GITHUB_API_URL``, ``GITHUB_TOKEN`` and
    the GitHub App's ``PRMON_GITHUB_APP_ID`` + ``PRMON_GITHUB_APP_PRIVATE_KEY`` (or ``_FILE``)."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def home(self) -> Path:
        return prmon_home(self.env)

    @property
    def embedded(self) -> bool:
        """True when no external warehouse is configured (an embedded server is used)."""
        return not self.env.get("PRMON_DATABASE_URL")

    @cached_property
    def database_url(self) -> str:
        """The warehouse URL; starts the embedded server on first use when needed."""
        return database_url(self.env)

    def warehouse(self) -> Conn:
        """An autocommit connection to a warehouse whose schema is up to date.

        Every command migrates first (idempotent, under an advisory lock, a few milliseconds when
        nothing is pending), so no command meets a missing table on a fresh database.
        """
        conn = connect(self.database_url, autocommit=True)
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def github(self, **overrides: object) -> GitHubConfig:
        """Client settings; the token or App key is taken from the environment, never printed.

        A configured GitHub App takes precedence over ``GITHUB_TOKEN`` (its budget is larger).
        """
        api_url = self.env.get("PRMON_GITHUB_API_URL") or DEFAULT_API_URL
        app = load_app_credentials(self.env)
        token = None if app is not None else self.env.get("GITHUB_TOKEN") or None
        return GitHubConfig(api_url=api_url, token=token, app=app, **overrides)  # type: ignore[arg-type]

    @property
    def has_github_credentials(self) -> bool:
        """A token or a GitHub App is configured (real GitHub needs one)."""
        return bool(self.env.get("GITHUB_TOKEN") or self.env.get(APP_ID_VARIABLE))

    def for_simulator(self, api_url: str) -> Settings:
        """These settings pointed at a fakehub: its URL, and no GitHub App (fakehub's default
        hub has none; any token works)."""
        env = {k: v for k, v in self.env.items() if k not in APP_VARIABLES}
        return replace(self, env={**env, "PRMON_GITHUB_API_URL": api_url})

    def github_app_env(self) -> dict[str, str | None]:
        """The App's variables as the Dagster resource's fields (unset ones None)."""
        return {
            "app_id": self.env.get(APP_ID_VARIABLE) or None,
            "app_private_key": self.env.get(KEY_VARIABLE) or None,
            "app_private_key_file": self.env.get(KEY_FILE_VARIABLE) or None,
        }
