"""Small frozen values passed between stages (cursors, counters), parsed in exactly one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

SyncMode = Literal["incremental", "full", "single"]


@dataclass(frozen=True)
class SyncCursors:
    """Where the last successful sync of one repository stopped.

    ``pulls_watermark`` is the newest ``updated_at`` seen; ``pulls_etag`` is the ETag of the
    first list-pulls page (sent as ``If-None-Match``: a 304 costs no rate limit);
    ``check_run_etags`` maps a head SHA to the ETag of its first check-runs page. Stored in the
    warehouse and committed in the same transaction as the data they describe.
    """

    pulls_watermark: datetime | None = None
    pulls_etag: str | None = None
    check_run_etags: dict[str, str] = field(default_factory=dict)
