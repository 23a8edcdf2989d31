"""Carry a discovery's cursors and costs from the discovery step to the load step.

The changeset and load steps (``sync.runner``) need more than the two Arrow tables: the new
cursors (ETags, watermark) to commit with the data, the request counts for the audit row, a
rename, and the time discovery started. They ride along as JSON in the ``pull_requests``
Parquet file's key-value metadata, so the persisted table alone is enough to re-execute the
load from failure, and the asset graph shows the data (pull requests, check runs) rather than
bookkeeping.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

import pyarrow as pa

from prmon_pipeline.core.costs import ApiCost
from prmon_pipeline.core.models import CheckRunFailure, ItemFailure, SyncCursors, SyncMode
from prmon_pipeline.github.discovery import DiscoveryResult, DiscoveryStats

RECEIPT_KEY = b"prmon.discovery"


class MissingReceiptError(ValueError):
    """A ``pull_requests`` table written without its discovery receipt (an older build)."""


def attach_receipt(discovery: DiscoveryResult, started_at: datetime) -> pa.Table:
    """``discovery.pull_requests`` with the receipt added to its schema metadata."""
    cursors = discovery.cursors
    receipt = {
        "repository": discovery.repository,
        "mode": discovery.mode,
        "started_at": started_at.isoformat(),
        "cursors": {
            "pulls_watermark": (
                cursors.pulls_watermark.isoformat() if cursors.pulls_watermark else None
            ),
            "pulls_etag": cursors.pulls_etag,
            "check_run_etags": cursors.check_run_etags,
            "check_run_failures": [
                {
                    **asdict(f),
                    "first_failed_at": f.first_failed_at.isoformat(),
                    "last_failed_at": f.last_failed_at.isoformat(),
                    "retry_after": f.retry_after.isoformat(),
                }
                for f in cursors.check_run_failures.values()
            ],
        },
        "item_failures": [asdict(f) for f in discovery.item_failures],
        "github_repository_id": discovery.github_repository_id,
        "stats": asdict(discovery.stats),
        "renamed_to": discovery.renamed_to,
        "pulls_unchanged": discovery.pulls_unchanged,
    }
    table = discovery.pull_requests
    metadata = dict(table.schema.metadata or {})
    metadata[RECEIPT_KEY] = json.dumps(receipt, sort_keys=True).encode()
    return table.replace_schema_metadata(metadata)


def restore_discovery(
    pull_requests: pa.Table, check_runs: pa.Table
) -> tuple[DiscoveryResult, datetime]:
    """The discovery result and its start time, rebuilt from the persisted tables."""
    raw = (pull_requests.schema.metadata or {}).get(RECEIPT_KEY)
    if raw is None:
        raise MissingReceiptError("pull_requests has no discovery receipt: rerun discovery")
    receipt: dict[str, Any] = json.loads(raw)
    cursors = receipt["cursors"]
    watermark = cursors["pulls_watermark"]
    result = DiscoveryResult(
        repository=str(receipt["repository"]),
        mode=cast(SyncMode, receipt["mode"]),
        pull_requests=pull_requests.replace_schema_metadata(None),
        check_runs=check_runs,
        cursors=SyncCursors(
            pulls_watermark=datetime.fromisoformat(watermark) if watermark else None,
            pulls_etag=cursors["pulls_etag"],
            check_run_etags=dict(cursors["check_run_etags"]),
            check_run_failures={
                f["head_sha"]: _failure(f) for f in cursors.get("check_run_failures", [])
            },
        ),
        stats=DiscoveryStats(**{**receipt["stats"], "cost": ApiCost(**receipt["stats"]["cost"])}),
        renamed_to=receipt["renamed_to"],
        pulls_unchanged=bool(receipt["pulls_unchanged"]),
        item_failures=tuple(ItemFailure(**f) for f in receipt.get("item_failures", [])),
        github_repository_id=receipt.get("github_repository_id"),
    )
    return result, datetime.fromisoformat(receipt["started_at"])


def _failure(stored: dict[str, Any]) -> CheckRunFailure:
    return CheckRunFailure(
        head_sha=str(stored["head_sha"]),
        http_status=int(stored["http_status"]),
        message=str(stored["message"]),
        attempts=int(stored["attempts"]),
        first_failed_at=datetime.fromisoformat(stored["first_failed_at"]),
        last_failed_at=datetime.fromisoformat(stored["last_failed_at"]),
        retry_after=datetime.fromisoformat(stored["retry_after"]),
    )
