"""A small LRU cache of style vectors, keyed by the style's bytes and preprocessing."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


def cache_key(kind: str, data: bytes | bytearray, *options: object) -> str:
    """sha256 of the style bytes, qualified by how they are read and preprocessed."""
    digest = hashlib.sha256(data).hexdigest()
    return ":".join([kind, digest, *map(str, options)])


class StyleVectorCache:
    """Thread-safe LRU; a repeated style costs a dictionary lookup."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            self.misses += 1
        vector = compute()
        vector.setflags(write=False)
        with self._lock:
            self._entries[key] = vector
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return vector

    def __len__(self) -> int:
        return len(self._entries)
