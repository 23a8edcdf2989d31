"""The code location ``prmon dev`` serves: the ``prmon`` definitions, Dagster's notices silenced.

Every process that loads this module (``dagster dev``'s code server, each run worker, ``dagster
sensor start``) first drops Dagster's Beta, Preview and Supersession warnings (see
:mod:`prmon_pipeline.dagster_notices`), then imports the definitions, whose decorators emit them.
"""

from __future__ import annotations

from prmon_pipeline.dagster_notices import silence_dagster_notices

silence_dagster_notices()

from prmon_pipeline.definitions import defs  # noqa: E402 - after the filters, on purpose

__all__ = ["defs"]
