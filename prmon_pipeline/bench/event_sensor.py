"""Deliveries applied through Dagster, in a process of its own, for the events benchmark.

Every ``--interval`` seconds (the sensor's ``minimum_interval_seconds``) this evaluates
``webhook_deliveries_sensor`` against an ephemeral instance whose partitions are the registered
repositories, and materializes ``webhook_events`` in-process for each run it requests, one
after the other. A daemon would launch each run in a process of its own: the run launch
(seconds per run, in parallel up to the queue's limit) is NOT in what this measures.

Prints ``applying`` once ready, then one JSON line per tick; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import dagster as dg
import orjson

from prmon_pipeline.defs.events import webhook_deliveries_sensor, webhook_events
from prmon_pipeline.defs.partitions import REPOSITORIES_PARTITIONS_NAME
from prmon_pipeline.defs.resources import GitHubResource, SyncSettings, WarehouseResource
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.repositories import list_repositories


def _tick(instance: dg.DagsterInstance, resources: dict[str, Any]) -> dict[str, object]:
    started = time.perf_counter()
    with dg.build_sensor_context(
        instance=instance, resources={"warehouse": resources["warehouse"]}
    ) as context:
        result = webhook_deliveries_sensor(context)
    assert isinstance(result, dg.SensorResult)
    requests = result.run_requests or []
    failed = 0
    for request in requests:
        done = dg.materialize(
            [webhook_events],
            partition_key=request.partition_key,
            resources=resources,
            instance=instance,
            tags=request.tags,
            raise_on_error=False,
        )
        failed += not done.success
    return {"runs": len(requests), "failed": failed, "seconds": time.perf_counter() - started}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prmon_pipeline.bench.event_sensor")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    resources: dict[str, Any] = {
        "github": GitHubResource(api_url=args.api_url),
        "warehouse": WarehouseResource(dsn=args.database_url),
        "sync_settings": SyncSettings(),
    }
    with connect(args.database_url, autocommit=True) as conn:
        names = [r.full_name for r in list_repositories(conn)]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(REPOSITORIES_PARTITIONS_NAME, names)
    sys.stdout.write("applying\n")
    sys.stdout.flush()
    while not stop.is_set():
        began = time.monotonic()
        figures = _tick(instance, resources)
        sys.stdout.write(orjson.dumps(figures).decode() + "\n")
        sys.stdout.flush()
        stop.wait(max(0.0, args.interval - (time.monotonic() - began)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
