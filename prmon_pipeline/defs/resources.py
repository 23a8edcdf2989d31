"""Resources: GitHub (API URL, token) and the warehouse (DSN or embedded), plus sync settings.

Each is a small config object that builds the adapter the sync engine already uses, so a test
overrides the URL (fakehub on loopback) or the DSN (a throwaway database) and nothing else.
Environment variables are read when a run starts, never at import time.
"""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.github.app_auth import (
    KEY_FILE_VARIABLE,
    AppCredentials,
    app_credentials,
    load_app_credentials,
    read_key_file,
)
from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync.options import (
    CHECK_RUNS_LOOKBACK_DAYS,
    DEFAULT_API_URL,
    FRESHNESS_MAX_AGE,
    MAX_BUDGET_SHARE,
    REPOSITORIES_AT_ONCE,
    REQUESTS_IN_FLIGHT,
)
from prmon_pipeline.warehouse.connection import database_url


class GitHubResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic over itself
    """GitHub REST: ``api_url`` (else ``PRMON_GITHUB_API_URL``, else api.github.com) and a token,
    or a GitHub App (``app_id`` and a key, else ``PRMON_GITHUB_APP_*`` from the environment)."""

    api_url: str | None = Field(
        default=None, description="REST base URL; GHES: https://HOST/api/v3."
    )
    token: str | None = Field(
        default=None, description="Bearer token; wire EnvVar('GITHUB_TOKEN')."
    )
    max_concurrency: int = Field(
        default=REQUESTS_IN_FLIGHT, description="Concurrent requests of one client."
    )
    timeout_seconds: float = 30.0
    app_id: str | None = Field(
        default=None, description="GitHub App id; wire EnvVar('PRMON_GITHUB_APP_ID')."
    )
    app_private_key: str | None = Field(
        default=None,
        description="The App's PEM private key; wire EnvVar('PRMON_GITHUB_APP_PRIVATE_KEY').",
    )
    app_private_key_file: str | None = Field(
        default=None, description="Path of the App's PEM private key (instead of the text)."
    )
    max_budget_share: float = Field(
        default=MAX_BUDGET_SHARE,
        description="Share of each rate-limit pool's hourly budget to spend; the rest is left"
        " to other tools (the sync stops early and resumes next run).",
    )

    def github_config(self) -> GitHubConfig:
        """The client settings; an App configured here or in the environment wins over the
        token. A bad key fails here, in one line, before any request."""
        api_url = self.api_url or os.environ.get("PRMON_GITHUB_API_URL") or DEFAULT_API_URL
        app: AppCredentials | None
        if self.app_id:
            if not (self.app_private_key or self.app_private_key_file):
                raise ConfigurationError(
                    "the github resource's app_id needs app_private_key or app_private_key_file"
                )
            pem = self.app_private_key or read_key_file(self.app_private_key_file or "")
            source = "app_private_key" if self.app_private_key else KEY_FILE_VARIABLE
            app = app_credentials(self.app_id, pem, source)
        else:
            app = load_app_credentials(os.environ)
        return GitHubConfig(
            api_url=api_url,
            token=None if app is not None else self.token or None,
            timeout=self.timeout_seconds,
            max_concurrency=self.max_concurrency,
            app=app,
            max_budget_share=self.max_budget_share,
        )

    def client(self) -> GitHubClient:
        """A new client; use it as ``async with resource.client() as client``."""
        return GitHubClient(self.github_config())


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic over itself
    """The warehouse: ``dsn``, else ``PRMON_DATABASE_URL``, else the embedded PostgreSQL."""

    dsn: str | None = Field(default=None, description="libpq URL of the warehouse database.")

    def url(self) -> str:
        return self.dsn or database_url()


class SyncSettings(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic over itself
    """Knobs of the Dagster path that ``prmon sync`` does not need."""

    max_concurrent_repositories: int = Field(
        default=REPOSITORIES_AT_ONCE,
        description="Repositories processed at once inside one step (single-run).",
    )
    check_runs_lookback_days: int | None = Field(
        default=CHECK_RUNS_LOOKBACK_DAYS,
        description="Closed PRs older than this are not polled for check runs (None or 0: all).",
    )
    api: str = Field(
        default="auto",
        description=(
            "How check runs are read: auto (GraphQL batches where cheaper and the server has"
            " GraphQL, REST 304s for the sweep), rest, or graphql."
        ),
    )
    freshness_max_age_minutes: int = Field(
        default=int(FRESHNESS_MAX_AGE.total_seconds() // 60),
        description="The freshness check fails when the last success is older.",
    )
