"""A small thread-safe LRU map, for what searches derive and keep while its key holds."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class Bounded:
    """At most ``capacity`` entries; the least recently used goes first. None is no entry."""

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
