"""The continuous applier alone in a process, for the events benchmark's kill test.

``prmon webhooks serve --apply`` runs receiver and applier in one process; to SIGKILL the
applier mid-batch while the receiver stays up, the mixed run runs the receiver alone and this
process beside it: ``sync.events.apply_continuously`` (the same code ``--apply`` runs) until
SIGTERM/SIGINT. Prints ``applying`` once started, then one JSON line per repository round.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import orjson

from prmon_pipeline.github.client import GitHubClient, GitHubConfig
from prmon_pipeline.sync.events import apply_continuously
from prmon_pipeline.sync.options import SyncOptions
from prmon_pipeline.sync.results import SyncOutcome, delivery_figures


def _report(outcome: SyncOutcome) -> None:
    figures = delivery_figures(outcome.figures.deliveries) if outcome.figures is not None else {}
    error = None if outcome.error is None else str(outcome.error)
    line = {"repository": outcome.repository, "error": error, **figures}
    sys.stdout.write(orjson.dumps(line).decode() + "\n")
    sys.stdout.flush()


async def _apply(database_url: str, api_url: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with GitHubClient(GitHubConfig(api_url=api_url)) as client:
        sys.stdout.write("applying\n")
        sys.stdout.flush()
        await apply_continuously(database_url, client, SyncOptions(), stop, _report)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prmon_pipeline.bench.event_applier")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--api-url", required=True)
    args = parser.parse_args(argv)
    asyncio.run(_apply(args.database_url, args.api_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
