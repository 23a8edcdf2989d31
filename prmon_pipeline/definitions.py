"""The ``prmon`` code location: composes what ``defs/`` wires, nothing else."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
