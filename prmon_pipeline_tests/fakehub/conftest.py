"""Fixtures: a small deterministic world, a controllable clock, sync clients without sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, sync_client

SMALL = WorldConfig(
    seed=7,
    repositories=2,
    prs_per_repository=120,
    check_runs_per_sha=8,
    matrix_fraction=0.05,
)


class FakeClock:
    """Wall clock for rate-limit windows that tests move by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def world() -> World:
    return World(SMALL)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


AppFactory = Callable[..., Starlette]


@pytest.fixture
def make_app(world: World, clock: FakeClock) -> AppFactory:
    def factory(**overrides: object) -> Starlette:
        cfg = HubConfig(clock=clock, **overrides)  # type: ignore[arg-type]
        return create_app(world, cfg)

    return factory


@pytest.fixture
def app(make_app: AppFactory) -> Starlette:
    return make_app()


@pytest.fixture
def client(app: Starlette) -> Iterator[httpx.Client]:
    with sync_client(app) as test_client:
        yield test_client
