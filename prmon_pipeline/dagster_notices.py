"""Dagster's Beta, Preview and Supersession notices, silenced where prmon runs Dagster for a user.

Dagster warns, through :mod:`warnings`, whenever a definition uses an API it has not declared
stable (``backfill_policy`` on an asset, ``partitions_def`` on an asset check) and whenever its
``dagster dev`` command is called (superseded by ``dg dev``). Each process that loads the
definitions prints them again: ``prmon demo`` once, ``prmon dev`` once per code server, run
worker and ``dagster sensor start``. They are addressed to whoever writes the definitions, not to
the person running the demo, so the processes prmon starts drop exactly these three categories;
every other warning, and every error, is shown as before.

``PYTHONWARNINGS`` cannot carry them to Dagster's subprocesses: the interpreter reads it before
``site-packages`` is importable, so ``ignore::dagster.BetaWarning`` there is rejected with
"Invalid -W option ignored". Hence two entry points:

* ``python -m prmon_pipeline.dagster_notices ARGS…`` is ``python -m dagster ARGS…`` with the
  notices silenced (``prmon dev`` starts ``dagster dev`` and ``dagster sensor start`` this way);
* :mod:`prmon_pipeline.dagster_location` is the code location ``prmon dev`` serves: it silences
  them before importing the definitions, in every process that loads it (code server, runs).

A tool for entry points, like ``allocator_settings``: the filters belong to the whole process.
"""

from __future__ import annotations

import runpy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

NOTICE_CATEGORIES: tuple[type[Warning], ...] = (
    dg.BetaWarning,
    dg.PreviewWarning,
    dg.SupersessionWarning,
)


def silence_dagster_notices() -> None:
    """From now on this process drops Dagster's Beta, Preview and Supersession warnings."""
    for category in NOTICE_CATEGORIES:
        warnings.filterwarnings("ignore", category=category)


@contextmanager
def dagster_notices_silenced() -> Iterator[None]:
    """Within the block, drop those three categories; the previous filters come back after."""
    with warnings.catch_warnings():
        silence_dagster_notices()
        yield


def main() -> None:
    """``python -m dagster`` with the notices silenced (the arguments pass through)."""
    silence_dagster_notices()
    runpy.run_module("dagster", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
