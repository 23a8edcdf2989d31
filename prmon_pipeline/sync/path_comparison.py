"""Both comparison paths on one repository's discovery, interleaved and repeated: what
``prmon bench`` measures (``SyncOptions.compare_paths``), so digest-first and the full comparison
are timed on the same rows, in the same process, minutes apart at most.

Each path reads its snapshot and computes its changeset ``REPEATS`` times, the order alternating
(neither always runs on a warm cache); each stage's median per path is kept under its own name
(``snapshot (digest-first)``…), and under the plain ``snapshot``/``changeset`` names for the
path the sync takes. The two changesets must be equal table for table, or the sync fails: a
disagreement is a bug in one of them, and the load would store whichever was chosen.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.core.errors import PrmonError
from prmon_pipeline.core.models import COMPARISON_PATHS, ComparisonPath
from prmon_pipeline.github.discovery import DiscoveryResult

from . import stages
from .options import SyncOptions

REPEATS = 3
PATH_COMPARISON_STAGE = "path comparison"
"""The stage holding both paths' repeats, all of them (the wall time they cost)."""
PATH_LABELS: dict[ComparisonPath, str] = {
    "digest_first": "digest-first",
    "full_comparison": "full comparison",
}


class PathsDisagreeError(PrmonError, AssertionError):
    """The digest-first and full-comparison changesets of the same rows differ."""


@dataclass(frozen=True)
class PathComparison:
    """The chosen path's changeset and every stage's median seconds, by stage name."""

    changeset: Changeset
    seconds: dict[str, float]


def stage_name(stage: str, path: ComparisonPath) -> str:
    """``snapshot (digest-first)``: one path's stage as the bench reports it."""
    return f"{stage} ({PATH_LABELS[path]})"


def _one_path(
    database_url: str,
    state: stages.RepositoryState,
    discovery: DiscoveryResult,
    options: SyncOptions,
    path: ComparisonPath,
) -> tuple[Changeset, float, float]:
    """One path's changeset, its snapshot seconds and its changeset seconds."""
    started = time.perf_counter()
    snapshot = stages.read_discovery_snapshot(database_url, state, discovery, options, path)
    read = time.perf_counter()
    changeset = stages.diff(discovery, snapshot, options)
    return changeset, read - started, time.perf_counter() - read


def compare_paths(
    database_url: str,
    state: stages.RepositoryState,
    discovery: DiscoveryResult,
    options: SyncOptions,
) -> PathComparison:
    """Run both paths ``REPEATS`` times; the chosen one's changeset and the medians."""
    samples: dict[str, list[float]] = {}
    changesets: dict[ComparisonPath, Changeset] = {}
    for repeat in range(REPEATS):
        order = COMPARISON_PATHS if repeat % 2 == 0 else COMPARISON_PATHS[::-1]
        for path in order:
            changeset, read, diffed = _one_path(database_url, state, discovery, options, path)
            changesets[path] = changeset
            samples.setdefault(stage_name("snapshot", path), []).append(read)
            samples.setdefault(stage_name("changeset", path), []).append(diffed)
    _check_agree(changesets)
    seconds = {name: statistics.median(values) for name, values in samples.items()}
    chosen = options.comparison_path()
    for stage in ("snapshot", "changeset"):
        seconds[stage] = seconds[stage_name(stage, chosen)]
    return PathComparison(changesets[chosen], seconds)


def _check_agree(changesets: dict[ComparisonPath, Changeset]) -> None:
    first, second = (changesets[path] for path in COMPARISON_PATHS)
    differing = [
        name for name, table in first.tables().items() if not table.equals(second.tables()[name])
    ]
    if differing or first.counts() != second.counts():
        raise PathsDisagreeError(
            f"digest-first and full-comparison changesets differ in {differing or 'counts'}"
        )
