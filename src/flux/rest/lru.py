"""A small bounded least-recently-used map, shared by the per-request caches of `flux.rest`
(verified JWTs, built SQL per request shape)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `size` entries; a hit makes an entry the most recent, a put evicts the oldest."""

    __slots__ = ("_data", "_size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("LRU size must be at least 1")
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self._size:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()
