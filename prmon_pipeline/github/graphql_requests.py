"""One discovery's request to the GraphQL reader: its SHAs, its rows, how it ends.

The reader (``github.graphql``) owns the queue and the queries; this is the bookkeeping of one
request: items still waiting or in flight per SHA, runs gathered so far, rows of the SHAs read
completely (Arrow after every answer, so a cold sync holds no dict per run until its end), the
SHAs GitHub does not know, and the future the discovery awaits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from prmon_pipeline.core.errors import GitHubError
from prmon_pipeline.core.graphql_checks import check_run_table
from prmon_pipeline.core.graphql_queries import WorkItem
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA
from prmon_pipeline.github.client import RequestTally


@dataclass(frozen=True)
class GraphQLChecks:
    """One repository's answer: rows of the SHAs read, and the SHAs GitHub does not know."""

    check_runs: pa.Table
    read: tuple[str, ...]
    gone: tuple[str, ...]


@dataclass
class CheckRunRequest:
    """One discovery's SHAs, waiting or in flight; resolved once every item is answered."""

    repository: str
    pr_numbers: dict[str, tuple[int, ...]]
    tally: RequestTally | None
    done: asyncio.Future[GraphQLChecks]
    walker: object | None = None
    """The announced sync that asked (see ``GraphQLCheckReader.walking``), if any."""
    waiting: deque[WorkItem] = field(default_factory=deque)
    open_items: dict[str, int] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Runs of SHAs still being read (more pages to come), as REST-shaped dicts."""
    tables: list[pa.Table] = field(default_factory=list)
    """Rows of the SHAs read completely."""
    gone: list[str] = field(default_factory=list)


def settle(request: CheckRunRequest) -> None:
    """After an answer: tabulate the request's finished SHAs; resolve it when all are."""
    if request.done.done():
        return
    try:
        _tabulate_finished(request)
    except GitHubError as error:  # a malformed run fails its repository only
        fail(request, error)
        return
    if not any(request.open_items.values()):
        _resolve(request)


def _tabulate_finished(request: CheckRunRequest) -> None:
    """Turn the runs of every SHA with nothing left to read into one Arrow table.

    Done after each answer, so a cold sync's request holds Arrow rows (one compact table per
    answer) rather than a dict per run until its last SHA is read.
    """
    started = time.perf_counter()
    finished = [sha for sha in request.runs if request.open_items.get(sha) == 0]
    tables = [
        check_run_table(request.repository, request.runs.pop(sha), request.pr_numbers[sha])
        for sha in finished
    ]
    tables = [t for t in tables if t.num_rows]
    if tables:
        request.tables.append(pa.concat_tables(tables).combine_chunks())
    if request.tally is not None:
        request.tally.parse_seconds += time.perf_counter() - started


def _resolve(request: CheckRunRequest) -> None:
    tables = request.tables
    table = pa.concat_tables(tables) if tables else CHECK_RUN_SCHEMA.empty_table()
    gone = set(request.gone)
    read = tuple(sha for sha in request.pr_numbers if sha not in gone)
    request.done.set_result(GraphQLChecks(table, read, tuple(request.gone)))


def fail(request: CheckRunRequest, error: Exception) -> None:
    if not request.done.done():
        request.done.set_exception(error)


def fail_all(requests: Sequence[CheckRunRequest], error: Exception) -> None:
    for request in requests:
        fail(request, error)
