"""A booking as its sender sees it: a handle to wait on, and the board that wakes the waiters in this process.

A Booking knows nothing of Kafka or Redis: it asks a `BookingTracker` (the ticketing service's, in
`labkit.services.booking_tracker`) for its recorded outcome, for a wake-up, and why it is late.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from labkit.errors import WaitTimeout

PENDING, RESERVED, FAILED = "PENDING", "RESERVED", "FAILED"
TERMINAL = (RESERVED, FAILED)


class OutcomeBoard:
    """Wakes `Booking.wait()` callers in this process as soon as a ticketing consumer records their outcome."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def event(self, booking_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(booking_id, threading.Event())

    def notify(self, booking_ids: Sequence[str]) -> None:
        """Wake the waiters of these bookings; bookings nobody waits for leave nothing behind."""
        with self._lock:
            for booking_id in booking_ids:
                event = self._events.get(booking_id)
                if event is not None:
                    event.set()

    def forget(self, booking_id: str) -> None:
        with self._lock:
            self._events.pop(booking_id, None)


class RecordedOutcome(Protocol):
    """What the ticketing service recorded of a booking."""

    @property
    def status(self) -> str: ...
    @property
    def seats(self) -> Sequence[str]: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def total_price(self) -> int: ...
    @property
    def latency_ms(self) -> float | None: ...


class BookingTracker(Protocol):
    """What a Booking asks of the service that sent it."""

    def outcome(self, event_id: int, booking_id: str) -> RecordedOutcome | None:
        """The booking as recorded now (None if nothing is recorded)."""

    def watch(self, booking_id: str) -> None:
        """From now on, an outcome recorded in this process for the booking ends `wait_for_news` at once."""

    def wait_for_news(self, booking_id: str, seconds: float) -> None:
        """Block at most `seconds`, less if the booking's outcome is recorded in this process meanwhile."""

    def stop_waiting(self, booking_id: str) -> None:
        """The waiter is gone: forget its wake-up."""

    def why_pending(self, event_id: int) -> str:
        """A sentence on why the event's bookings may stay PENDING ('' if nothing can be said)."""


@dataclass
class Booking:
    """A handle on one booking. `wait()` until it is RESERVED or FAILED, then read seats / reason / price."""

    booking_id: str
    event_id: int
    section: str
    subsection: int
    partition: int
    _tracker: BookingTracker = field(repr=False)
    status: str = PENDING
    seats: list[str] = field(default_factory=list)
    reason: str | None = None
    total_price: int = 0
    latency_ms: float | None = None

    def refresh(self) -> Booking:
        record = self._tracker.outcome(self.event_id, self.booking_id)
        if record is not None:
            self.status, self.seats, self.reason = record.status, list(record.seats), record.reason
            self.total_price, self.latency_ms = record.total_price, record.latency_ms
        return self

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def wait(self, timeout: float = 10.0) -> Booking:
        """Block until the outcome is recorded (by a consumer thread here, or a consumer process elsewhere)."""
        deadline = time.monotonic() + timeout
        self._tracker.watch(self.booking_id)  # before the first read: an outcome recorded in between still wakes
        try:
            while not self.refresh().done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    why = self._tracker.why_pending(self.event_id)
                    raise WaitTimeout(f"booking {self.booking_id} still {self.status} after {timeout} s{why}")
                # woken at once in-process; re-reads the record for other processes' consumers
                self._tracker.wait_for_news(self.booking_id, min(remaining, 0.1))
        finally:
            self._tracker.stop_waiting(self.booking_id)
        return self
