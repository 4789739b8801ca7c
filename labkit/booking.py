"""A booking as its sender sees it: a handle to wait on, and the board that wakes the waiters in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from labkit.errors import WaitTimeout
from labkit.events import group_member_counts
from labkit.kafka.clients import Admin
from labkit.store.bookings import TERMINAL, BookingStore


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


def idle_groups_hint(members: Mapping[str, int]) -> str | None:
    """What to do when a group of the event has no member (nobody would answer a booking), else None."""
    idle = [group for group, count in members.items() if count == 0]
    if not idle:
        return None
    return (
        f"no consumer is running in {', '.join(idle)}: start them with lab.start_consumers() in a notebook, "
        "or `labkit consumers start` (make c-start) in a shell"
    )


@dataclass
class Booking:
    """A handle on one booking. `wait()` until it is RESERVED or FAILED, then read seats / reason / price."""

    booking_id: str
    event_id: int
    section: str
    subsection: int
    partition: int
    _store: BookingStore = field(repr=False)
    _board: OutcomeBoard = field(repr=False)
    _admin: Admin | None = field(repr=False)  # wait()'s timeout says whether anyone consumes the event
    status: str = "PENDING"
    seats: list[str] = field(default_factory=list)
    reason: str | None = None
    total_price: int = 0
    latency_ms: float | None = None

    def refresh(self) -> Booking:
        record = self._store.record(self.event_id, self.booking_id)
        if record is not None:
            self.status, self.seats, self.reason = record.status, list(record.seats), record.reason
            self.total_price, self.latency_ms = record.total_price, record.latency_ms
        return self

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def wait(self, timeout: float = 10.0) -> Booking:
        """Block until the outcome is recorded (by a consumer thread here, or a consumer process elsewhere)."""
        event = self._board.event(self.booking_id)
        deadline = time.monotonic() + timeout
        try:
            while not self.refresh().done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"booking {self.booking_id} still {self.status} after {timeout} s{self._why()}")
                event.wait(min(remaining, 0.1))  # woken at once in-process; re-reads Redis for other processes
        finally:
            self._board.forget(self.booking_id)
        return self

    def _why(self) -> str:
        """Whether anyone consumes the event: its requests wait in Kafka until someone does."""
        if self._admin is None:
            return ""
        members = group_member_counts(self._admin, self.event_id)
        hint = idle_groups_hint(members)
        if hint is not None:
            return f"; {hint} (the request waits in Kafka meanwhile)"
        return "; consumers are running: " + ", ".join(f"{group} has {n}" for group, n in members.items())
