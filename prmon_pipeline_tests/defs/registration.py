"""Repositories registered as the registry sensor leaves them: a row and a partition each."""

from __future__ import annotations

import dagster as dg

from prmon_pipeline.defs.partitions import REPOSITORIES_PARTITIONS_NAME
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import add_repository


def register(instance: dg.DagsterInstance, warehouse_url: str, names: list[str]) -> list[str]:
    """Register repositories in the warehouse and as partitions of the instance."""
    with connect(warehouse_url, autocommit=True) as conn:
        keys = [add_repository(conn, name).full_name for name in names]
    instance.add_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME, keys)
    return keys
