"""The Dagster GitHub resource reads a GitHub App (its fields, else ``PRMON_GITHUB_APP_*``) and
the budget share, and fails in one line on a bad key before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from prmon_pipeline.core.errors import ConfigurationError
from prmon_pipeline.defs.resources import GitHubResource
from prmon_pipeline_tests.github.app_keys import key_pair


def test_app_fields_win_over_the_token_and_stay_out_of_the_repr() -> None:
    pem = key_pair().private_pem
    resource = GitHubResource(
        api_url="http://x",
        token="ghp_unused",
        app_id="12",
        app_private_key=pem,
        max_budget_share=0.5,
    )
    config = resource.github_config()
    assert config.app is not None and config.app.app_id == "12"
    assert config.token is None and config.max_budget_share == 0.5
    assert pem.splitlines()[1] not in repr(config)


def test_app_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(key_pair().private_pem)
    monkeypatch.setenv("PRMON_GITHUB_APP_ID", "34")
    monkeypatch.setenv("PRMON_GITHUB_APP_PRIVATE_KEY_FILE", str(key_file))
    config = GitHubResource(api_url="http://x").github_config()
    assert config.app is not None and config.app.app_id == "34"


def test_a_bad_key_in_the_resource_is_one_line() -> None:
    resource = GitHubResource(api_url="http://x", app_id="12", app_private_key="nope")
    with pytest.raises(ConfigurationError, match=r"^app_private_key is not an unencrypted PEM"):
        resource.github_config()


def test_an_app_id_without_a_key_is_one_line() -> None:
    resource = GitHubResource(api_url="http://x", app_id="12")
    with pytest.raises(ConfigurationError, match=r"app_id needs app_private_key or"):
        resource.github_config()
