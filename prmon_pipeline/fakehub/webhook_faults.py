"""Injectable webhook faults, seeded like fakehub's HTTP faults.

* ``drop``: the attempt is recorded as failed (``failed to connect``, status code 0: there was
  no HTTP answer) and nothing is POSTed; GitHub does not retry, so only a redelivery (or the
  poll) repairs it.
* ``duplicate``: the same delivery (same GUID) is POSTed twice, two attempts.
* ``reorder``: the delivery is held back until ``hold`` later deliveries were sent.
* ``delay``: the delivery leaves ``delay`` wall seconds late (others pass it).
* ``same_second``: right after a PR change a second change (a label toggle) lands on the same
  PR in the same second, so two deliveries carry the same ``updated_at``.
* ``lag``: the delivery is sent before the REST side shows the change: for ``lag`` wall
  seconds ``GET /repos/{o}/{r}/pulls/{n}`` answers the PR as it was before (404 for a PR just
  opened).

Redeliveries and pings are never faulted (recovery must be possible).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from prmon_pipeline.fakehub.faults import fires

KINDS = ("drop", "duplicate", "reorder", "delay", "same_second", "lag")
SENDER_KINDS = ("drop", "duplicate", "reorder", "delay")


@dataclass(slots=True)
class WebhookFaultSpec:
    """Inject ``kind`` with probability ``rate`` (at most ``count`` times) on ``event``
    deliveries (None: every event; ``same_second`` and ``lag`` apply to ``pull_request``)."""

    kind: str
    rate: float = 1.0
    count: int | None = None
    event: str | None = None
    delay: float = 2.0
    hold: int = 3
    lag: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown webhook fault {self.kind!r}; one of {KINDS}")


def parse_fault(text: str) -> WebhookFaultSpec:
    """``KIND[:RATE]`` from the command line, e.g. ``drop:0.02``."""
    kind, _, rate = text.partition(":")
    return WebhookFaultSpec(kind, rate=float(rate) if rate else 1.0)


class WebhookFaults:
    """The active specs; :meth:`pick` decides (seeded) whether a delivery is faulted."""

    def __init__(self, seed: int, specs: tuple[WebhookFaultSpec, ...] = ()) -> None:
        self.specs = list(specs)
        self.rng = random.Random(f"webhooks/{seed}")
        self.lock = threading.Lock()
        self.fired: dict[str, int] = {}

    def add(self, spec: WebhookFaultSpec) -> WebhookFaultSpec:
        with self.lock:
            self.specs.append(spec)
        return spec

    def clear(self) -> None:
        with self.lock:
            self.specs.clear()

    def has(self, kind: str) -> bool:
        return any(s.kind == kind for s in self.specs)

    def pick(self, kinds: tuple[str, ...], event: str) -> WebhookFaultSpec | None:
        """The first spec of one of ``kinds`` that fires for this ``event`` delivery."""
        with self.lock:
            for spec in self.specs:
                if spec.kind not in kinds or spec.event not in (None, event):
                    continue
                if not fires(spec, self.specs, self.rng):
                    continue
                self.fired[spec.kind] = self.fired.get(spec.kind, 0) + 1
                return spec
            return None
