"""psycopg errors translated once, and work redone whole when the error was transient."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg

from prmon_pipeline.core.errors import TransientWarehouseError, WarehouseError

T = TypeVar("T")

_TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "57P01",  # admin_shutdown (pg_terminate_backend, server stopping)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now
    "08000",  # connection_exception
    "08003",  # connection_does_not_exist
    "08006",  # connection_failure
}


def translate_database_error(exc: psycopg.Error) -> WarehouseError:
    """psycopg's error as ours: transient (redo the transaction) or terminal, in one line."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if exc.sqlstate in _TRANSIENT_SQLSTATES or isinstance(exc, psycopg.OperationalError):
        return TransientWarehouseError(reason)
    return WarehouseError(reason)


def with_transient_retries(
    work: Callable[[], T], attempts: int, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run ``work``; on a transient database error run it again whole, with jittered back-off.

    Safe only for work that is one transaction (or read-only): a retry then starts from the
    state the failed attempt left untouched.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except psycopg.Error as exc:
            error = translate_database_error(exc)
            if not error.transient or attempt == attempts:
                raise error from exc
        except WarehouseError as exc:
            if not exc.transient or attempt == attempts:
                raise
        sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random()))
    raise ValueError(f"attempts must be at least 1, got {attempts}")
