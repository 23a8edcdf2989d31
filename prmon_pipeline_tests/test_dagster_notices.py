"""Dagster's Beta/Preview/Supersession notices are dropped, and nothing else is."""

from __future__ import annotations

import subprocess
import sys
import warnings

import dagster as dg
import pytest

from prmon_pipeline.dagster_notices import dagster_notices_silenced

NOTICE_NAMES = ("BetaWarning", "PreviewWarning", "SupersessionWarning")


def test_exactly_the_three_notice_categories_are_dropped() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with dagster_notices_silenced():
            warnings.warn("beta", dg.BetaWarning, stacklevel=1)
            warnings.warn("preview", dg.PreviewWarning, stacklevel=1)
            warnings.warn("superseded", dg.SupersessionWarning, stacklevel=1)
            warnings.warn("a real problem", UserWarning, stacklevel=1)
            warnings.warn("going away", DeprecationWarning, stacklevel=1)
        warnings.warn("beta after the block", dg.BetaWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == [
        "a real problem",
        "going away",
        "beta after the block",
    ]


@pytest.mark.servers  # a fresh Python process: not a fast test
def test_the_dev_code_location_loads_without_notices() -> None:
    # A fresh interpreter, every warning shown: what dagster dev's code server and runs do.
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "-c",
            "import prmon_pipeline.dagster_location as m; print(type(m.defs).__name__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "Definitions"
    assert not [name for name in NOTICE_NAMES if name in done.stderr], done.stderr[-2000:]
