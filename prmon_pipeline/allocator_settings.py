"""Process-wide allocator settings for a sync process: give transient peaks back to the OS.

A tool for entry points (``prmon sync``, the benchmark's sync process), never for a library
layer: the settings belong to the whole process, so only the code that starts one applies them,
before its work begins. Nothing of ours is imported here, so applying them costs no RSS.

About 200 MB of a sync process is imported libraries (130 MB of it their code pages). What each
setting measured on a cold sync of 20 of the benchmark's repositories (1,000 PRs, 8 check runs
per head SHA), 4 at once, this 2-core machine (peak RSS, one run each; runs of one setting
differ by about ±10 MB):

* glibc raises its mmap threshold dynamically, up to 32 MB, each time a large block is freed, so
  later large transient buffers (Polars and Arrow scratch, COPY chunks, JSON documents) are
  served from the heap and stay there, fragmented, after they are freed. A fixed threshold
  (``M_MMAP_THRESHOLD``, which also switches the dynamic raise off) returns every block of
  256 KiB or more at ``free``: 348 MB → 316 MB.
* Arrow's default pool (mimalloc in pyarrow 26) keeps freed segments per thread; its system pool
  allocates through glibc, where the fixed threshold applies: 316 MB → 286-290 MB with both.

Tried and left out, as they did not pay on top of these two: ``M_ARENA_MAX=2`` (316 MB either
way), a threshold of 64 or 128 KiB instead of 256 (within the noise), ``malloc_trim(0)`` after
each repository (within the noise), Polars' own jemalloc with no decay (~4 MB, and only settable
through ``_RJEM_MALLOC_CONF`` before polars is imported).

Glibc's ``mallopt`` is documented in mallopt(3); on any other C library (musl, macOS) the
threshold is left alone. An operator's own ``MALLOC_MMAP_THRESHOLD_`` or
``ARROW_DEFAULT_MEMORY_POOL`` wins over these defaults.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter number in glibc's ``<malloc.h>``."""
MMAP_THRESHOLD_BYTES = 256 * 1024
"""Blocks this large or larger are mmapped, so freeing one returns it to the OS at once."""
MMAP_THRESHOLD_VARIABLE = "MALLOC_MMAP_THRESHOLD_"
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


@dataclass(frozen=True)
class AllocatorSettings:
    """What was applied: the fixed mmap threshold (None: left alone) and Arrow's pool."""

    mmap_threshold: int | None
    arrow_pool: str


def apply_sync_allocator_settings(
    env: Mapping[str, str] | None = None, libc: ctypes.CDLL | None = None
) -> AllocatorSettings:
    """Fix glibc's mmap threshold and route Arrow through the system allocator (see above).

    ``env`` (default ``os.environ``) and ``libc`` (default: this process's C library) are
    parameters so that tests can show the overrides and the non-glibc case.
    """
    env = os.environ if env is None else env
    threshold = None
    if MMAP_THRESHOLD_VARIABLE not in env:
        threshold = fix_mmap_threshold(MMAP_THRESHOLD_BYTES, libc)
    if ARROW_POOL_VARIABLE not in env:
        pa.set_memory_pool(pa.system_memory_pool())
    return AllocatorSettings(threshold, pa.default_memory_pool().backend_name)


def fix_mmap_threshold(size: int, libc: ctypes.CDLL | None = None) -> int | None:
    """Set glibc's ``M_MMAP_THRESHOLD`` to ``size``; None where there is no glibc to set."""
    library = process_libc() if libc is None else libc
    if library is None or not hasattr(library, "gnu_get_libc_version"):
        return None  # musl, macOS, Windows: another allocator with other knobs
    mallopt = library.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return size if mallopt(M_MMAP_THRESHOLD, size) == 1 else None


def process_libc() -> ctypes.CDLL | None:
    """The C library this process runs on (its global symbols), or None where there is none."""
    try:
        return ctypes.CDLL(None)
    except (OSError, TypeError):  # Windows has no global symbol namespace to open
        return None
