"""A small thread-safe least-recently-used map, for the assessor's per-text caches."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """Keeps at most ``size`` entries; reading an entry makes it the most recent, the least recent go first.

    Args:
        size: Capacity; 0 or less keeps nothing.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """The entries present for ``keys``, each marked as just used."""
        found: dict[K, V] = {}
        with self._lock:
            for key in keys:
                if key in self._items:
                    self._items.move_to_end(key)
                    found[key] = self._items[key]
        return found

    def put_many(self, items: Iterable[tuple[K, V]]) -> None:
        """Store entries as the most recent, then drop the least recent beyond the capacity."""
        if self._size <= 0:
            return
        with self._lock:
            for key, value in items:
                self._items[key] = value
                self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get_or_compute(self, keys: Sequence[K], compute: Callable[[list[K]], Iterable[V]]) -> list[V]:
        """The value of every key, in order: cached ones as they are, the rest computed once each and stored.

        Args:
            keys: The keys wanted (repeats allowed).
            compute: Given the distinct missing keys in first-seen order, returns their values in that order.
        """
        found = self.get_many(keys)
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            fresh = dict(zip(missing, compute(missing), strict=True))
            self.put_many(fresh.items())
            found.update(fresh)
        return [found[k] for k in keys]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()
