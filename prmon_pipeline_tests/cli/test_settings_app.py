"""The CLI's settings: a GitHub App wins over ``GITHUB_TOKEN``; the simulator never gets one."""

from __future__ import annotations

from prmon_pipeline.cli.settings import Settings
from prmon_pipeline_tests.github.app_keys import key_pair

APP_ENV = {"PRMON_GITHUB_APP_ID": "12", "PRMON_GITHUB_APP_PRIVATE_KEY": key_pair().private_pem}


def test_an_app_takes_precedence_over_the_token() -> None:
    settings = Settings(env={**APP_ENV, "GITHUB_TOKEN": "ghp_x"})
    config = settings.github(max_budget_share=0.25)
    assert config.app is not None and config.app.app_id == "12"
    assert config.token is None and config.max_budget_share == 0.25
    assert Settings(env={"GITHUB_TOKEN": "ghp_x"}).github().app is None
    assert settings.has_github_credentials and not Settings(env={}).has_github_credentials


def test_the_simulator_gets_no_app() -> None:
    simulated = Settings(env={**APP_ENV, "GITHUB_TOKEN": "t"}).for_simulator("http://127.0.0.1:1")
    assert simulated.github().app is None
    assert simulated.env["PRMON_GITHUB_API_URL"] == "http://127.0.0.1:1"
    assert not set(APP_ENV) & set(simulated.env)
