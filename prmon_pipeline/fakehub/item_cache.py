"""Per-item byte caches under one byte budget, with shared fragments for repeated objects.

A PR list item is ~17 KB, but ~13 KB of it is the same bytes in every PR of a repository:
``base.repo``/``head.repo`` (a full repository object each) and the account objects. A
100 x 1,000-PR world held 1.8 GB of item bytes, and each rendered page again as much. Here an
item is kept as a tuple of fragments in which each shared object is the one canonical ``bytes``
object of that object, so an item costs only what is its own. Shared objects are serialised
once (``orjson`` writes a nested object exactly as it writes it alone), so joining the
fragments gives exactly the bytes of the whole document. The cache is an LRU keyed by entity
and bounded by the bytes its entries own; an evicted item is simply rendered again (its render
key says when it is current), which gives the same bytes because rendering is a pure function
of the entity's state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

ENTRY_OVERHEAD = 200
"""Bytes an entry costs beyond its fragments (entry, tuple, key), for the budget."""
PART_OVERHEAD = 40
"""Bytes a fragment reference costs beyond its length (object header, tuple slot)."""


class Rendered:
    """One rendered item: fragments whose concatenation is the served bytes.

    Immutable once built, so a page may keep it after the cache evicted it. ``segment`` is the
    item's own raw-deflate segment (see ``gzip_pages``) when the item goes into gzip lists.
    """

    __slots__ = ("cost", "key", "length", "parts", "segment")

    def __init__(self, key: Hashable, parts: tuple[bytes, ...], own: int, length: int) -> None:
        self.key = key
        self.parts = parts
        self.length = length
        self.segment = b""
        self.cost = ENTRY_OVERHEAD + own + PART_OVERHEAD * len(parts)

    def join(self) -> bytes:
        """The item's bytes."""
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)


MARK = "\ue000"
"""Starts a placeholder string (a private-use character GitHub content would not carry)."""
_MARK_TOKEN = b'"' + MARK.encode()


class SharedMarks:
    """Placeholders for shared values inside a document about to be serialised.

    Each :meth:`mark` returns a string to put where the value's JSON would go; :meth:`split`
    turns the serialised document into fragments with each placeholder's string token replaced
    by the canonical bytes. A document whose own text happens to contain the marker is
    detected (the tokens do not match one to one) and then not split.
    """

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def mark(self, value: bytes) -> str:
        """A placeholder for the JSON bytes ``value``."""
        self.values.append(value)
        return f"{MARK}{len(self.values) - 1}"

    def split(self, data: bytes) -> tuple[tuple[bytes, ...], int, int] | None:
        """Fragments of the document with the values in place, the bytes it owns and its
        length; ``None`` when the placeholders cannot be told apart from the document's text."""
        pieces = data.split(_MARK_TOKEN)
        if len(pieces) != len(self.values) + 1:
            return None
        parts = [pieces[0]] if pieces[0] else []
        own, shared = len(pieces[0]), 0
        seen: set[int] = set()
        for piece in pieces[1:]:
            index, quote, rest = piece.partition(b'"')
            if not quote or not index.isdigit() or int(index) >= len(self.values):
                return None
            seen.add(int(index))
            value = self.values[int(index)]
            parts.append(value)
            shared += len(value)
            if rest:
                parts.append(rest)
                own += len(rest)
        if len(seen) != len(self.values):
            return None
        return tuple(parts), own, own + shared


class ItemCache:
    """LRU of :class:`Rendered` items keyed by entity, bounded by ``max_bytes`` of their cost.

    ``shared`` holds the canonical bytes of repeated objects (repositories per revision,
    accounts, long bodies); it grows with the world's number of such objects, not with items.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self.items: OrderedDict[object, Rendered] = OrderedDict()
        self.shared: dict[Hashable, bytes] = {}
        self.evictions = 0

    def get(self, entity: object, key: Hashable) -> Rendered | None:
        """The entity's item if it was rendered under ``key`` (refreshed as recently used)."""
        found = self.items.get(entity)
        if found is None or found.key != key:
            return None
        self.items.move_to_end(entity)
        return found

    def put(self, entity: object, item: Rendered) -> Rendered:
        """Store (replacing an older rendering) and evict beyond the budget."""
        old = self.items.pop(entity, None)
        if old is not None:
            self.used -= old.cost
        self.items[entity] = item
        self.used += item.cost
        while self.used > self.max_bytes and len(self.items) > 1:
            _, evicted = self.items.popitem(last=False)
            self.used -= evicted.cost
            self.evictions += 1
        return item

    def discard(self, entity: object) -> None:
        """Forget an entity's item (the entity itself is going away)."""
        old = self.items.pop(entity, None)
        if old is not None:
            self.used -= old.cost

    def shared_bytes(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The one canonical bytes object for a repeated value (made once per key)."""
        found = self.shared.get(key)
        if found is None:
            found = self.shared[key] = make()
        return found

    def clear(self) -> None:
        """Forget every item (shared values stay: they are keyed by revision)."""
        self.items.clear()
        self.used = 0
