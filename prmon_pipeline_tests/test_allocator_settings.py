"""Allocator settings of a sync process: applied on glibc, else or when overridden left alone."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from prmon_pipeline.allocator_settings import (
    MMAP_THRESHOLD_BYTES,
    apply_sync_allocator_settings,
    fix_mmap_threshold,
    process_libc,
)

GLIBC = process_libc()
requires_glibc = pytest.mark.skipif(
    GLIBC is None or not hasattr(GLIBC, "gnu_get_libc_version"), reason="needs glibc"
)


@pytest.fixture(autouse=True)
def arrow_pool() -> Iterator[None]:
    """Each test leaves Arrow's pool as it found it (the setting is process-wide)."""
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


class _Mallopt:
    """A stand-in for a C library's ``mallopt`` that records its calls."""

    def __init__(self, answer: int = 1) -> None:
        self.answer = answer  # glibc answers 1 on success, 0 on error
        self.calls: list[tuple[int, int]] = []
        self.argtypes: object = None
        self.restype: object = None

    def __call__(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return self.answer


class _Glibc:
    def __init__(self) -> None:
        self.mallopt = _Mallopt()

    def gnu_get_libc_version(self) -> bytes:
        return b"2.36"


class _OtherLibc:
    """musl or macOS: a ``mallopt`` may exist, but not glibc's."""

    def __init__(self) -> None:
        self.mallopt = _Mallopt()


@requires_glibc
def test_on_glibc_the_threshold_is_fixed_and_arrow_uses_the_system_pool() -> None:
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    applied = apply_sync_allocator_settings(env={})
    assert applied.mmap_threshold == MMAP_THRESHOLD_BYTES
    assert applied.arrow_pool == "system"
    assert pa.default_memory_pool().backend_name == "system"


def test_glibc_mallopt_is_asked_for_the_mmap_threshold() -> None:
    libc = _Glibc()
    assert fix_mmap_threshold(4096, libc) == 4096  # type: ignore[arg-type]
    assert libc.mallopt.calls == [(-3, 4096)]


def test_another_c_library_is_left_alone() -> None:
    libc = _OtherLibc()
    applied = apply_sync_allocator_settings(env={}, libc=libc)  # type: ignore[arg-type]
    assert applied.mmap_threshold is None
    assert libc.mallopt.calls == []
    assert applied.arrow_pool == "system"


def test_an_operators_environment_wins() -> None:
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    libc = _Glibc()
    env = {"MALLOC_MMAP_THRESHOLD_": "1048576", "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}
    applied = apply_sync_allocator_settings(env=env, libc=libc)  # type: ignore[arg-type]
    assert applied == type(applied)(mmap_threshold=None, arrow_pool="mimalloc")
    assert libc.mallopt.calls == []


def test_a_refused_setting_is_reported_as_not_applied() -> None:
    libc = _Glibc()
    libc.mallopt = _Mallopt(answer=0)
    assert fix_mmap_threshold(4096, libc) is None  # type: ignore[arg-type]
