"""fakehub: a faithful local GitHub REST simulator for demos, tests and benchmarks.

A seeded :class:`World` of repositories, pull requests and check runs that evolves with
``advance``; ``create_app`` serves it with GitHub's HTTP semantics (Link pagination, ETags and
304s, primary and secondary rate limits, injectable faults); ``serve`` runs it on a loopback
port. Webhooks: ``HubConfig.webhooks`` (:class:`WebhookSpec`) and ``Hub.webhooks`` deliver the
world's changes as GitHub does (``webhook_*`` modules). Nothing here imports the rest of
prmon_pipeline.
"""

from prmon_pipeline.fakehub.app import Counters, Hub, create_app
from prmon_pipeline.fakehub.config import HubConfig, WorldConfig
from prmon_pipeline.fakehub.faults import FaultSpec
from prmon_pipeline.fakehub.server import main, serve
from prmon_pipeline.fakehub.transport import SyncASGITransport, sync_client
from prmon_pipeline.fakehub.webhook_faults import WebhookFaultSpec
from prmon_pipeline.fakehub.webhook_hooks import WebhookSpec
from prmon_pipeline.fakehub.world import World

__all__ = [
    "Counters",
    "FaultSpec",
    "Hub",
    "HubConfig",
    "SyncASGITransport",
    "WebhookFaultSpec",
    "WebhookSpec",
    "World",
    "WorldConfig",
    "create_app",
    "main",
    "serve",
    "sync_client",
]
