"""The one bounded per-repository fan-out: ``prmon sync``, the Dagster steps and the sensors'
probe run their per-repository work through it, so isolation and the bound are written once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prmon_pipeline.github.graphql import holding_place

T = TypeVar("T")


class _Place:
    """One repository's place among the ``limit`` at once; lent while the repository only
    waits for GraphQL answers shared with others (``github.graphql.LEND_LIMIT``)."""

    def __init__(self, bound: asyncio.Semaphore) -> None:
        self._bound = bound
        self._held = False

    def lend(self) -> None:
        if self._held:
            self._held = False
            self._bound.release()

    async def take_back(self) -> None:
        if self._held:  # two reads of one repository lent it at once: one place to take
            return
        await self._bound.acquire()
        self._held = True


@dataclass
class Fanout(Generic[T]):
    """What the work produced per repository: values, errors and seconds spent."""

    values: dict[str, T] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


async def for_each_repository(
    keys: Sequence[str],
    work: Callable[[str], Awaitable[T]],
    limit: int,
    on_done: Callable[[str, T | None, Exception | None], None] | None = None,
) -> Fanout[T]:
    """Run ``work`` for every key, at most ``limit`` at once; one failure never stops the rest.

    ``on_done`` (progress, say) is called as each repository ends, with its value or its error.
    """
    if limit < 1:
        raise ValueError(f"repositories at once must be at least 1, got {limit}")
    bound = asyncio.Semaphore(limit)
    outcome: Fanout[T] = Fanout()

    async def one(key: str) -> None:
        place = _Place(bound)
        await place.take_back()
        try:
            start = time.perf_counter()
            value: T | None = None
            error: Exception | None = None
            try:
                with holding_place(place):
                    value = outcome.values[key] = await work(key)
            except Exception as exc:  # every failure belongs to its repository
                error = outcome.errors[key] = exc
            finally:
                outcome.seconds[key] = time.perf_counter() - start
        finally:
            place.lend()
        if on_done is not None:
            on_done(key, value, error)

    await asyncio.gather(*(one(key) for key in keys))
    return outcome
