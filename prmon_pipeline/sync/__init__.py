"""The sync service: one repository's stages (``stages``), the runner that times, catches and
records them (``runner``), the bounded per-repository fan-out (``fanout``), sliced storage of
long walks (``sliced``), typed figures (``results``) and the one home of defaults (``options``).

The same runner serves ``prmon sync``, the Dagster assets and the sensors. Nothing here imports
Dagster.
"""

from .options import SyncOptions
from .results import RepositoryFigures, SyncError, SyncOutcome, SyncResult
from .runner import sync_repositories, sync_repository
from .stages import utc_now

__all__ = [
    "RepositoryFigures",
    "SyncError",
    "SyncOptions",
    "SyncOutcome",
    "SyncResult",
    "sync_repositories",
    "sync_repository",
    "utc_now",
]
