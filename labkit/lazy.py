"""One value built on first use, shared by threads: the Lab's clients and the ticketing service inside them.

The hot path (`get` once built) takes no lock: a booking asks for the ticketing service every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """`get(build)` builds the value once (under a lock), `peek()` looks without building, `take()` hands it
    over for closing and forgets it (the next `get` builds a new one)."""

    def __init__(self) -> None:
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self, build: Callable[[], T]) -> T:
        value = self._value
        if value is not None:  # built already: no lock
            return value
        with self._lock:
            if self._value is None:
                self._value = build()
            return self._value

    def peek(self) -> T | None:
        return self._value

    def take(self) -> T | None:
        with self._lock:
            value, self._value = self._value, None
        return value
