"""The ticketing service's side of a Booking: its outcome from the store, its wake-up from the board, and on a
timeout whether anyone consumes the event (its requests wait in Kafka until someone does)."""

from __future__ import annotations

from collections.abc import Mapping

from labkit.domain.booking import OutcomeBoard
from labkit.kafka.admin import Admin
from labkit.services.event_catalog import group_member_counts
from labkit.store.bookings import BookingRecord, BookingStore


def idle_groups_hint(members: Mapping[str, int]) -> str | None:
    """What to do when a group of the event has no member (nobody would answer a booking), else None."""
    idle = [group for group, count in members.items() if count == 0]
    if not idle:
        return None
    return (
        f"no consumer is running in {', '.join(idle)}: start them with lab.start_consumers() in a notebook, "
        "or `labkit consumers start` (make c-start) in a shell"
    )


class StoreTracker:
    """A `BookingTracker` over the booking store, the outcome board and (optionally) the admin client."""

    def __init__(self, store: BookingStore, board: OutcomeBoard, admin: Admin | None = None) -> None:
        self.store = store
        self.board = board
        self.admin = admin

    def outcome(self, event_id: int, booking_id: str) -> BookingRecord | None:
        return self.store.record(event_id, booking_id)

    def watch(self, booking_id: str) -> None:
        self.board.event(booking_id)

    def wait_for_news(self, booking_id: str, seconds: float) -> None:
        self.board.event(booking_id).wait(seconds)

    def stop_waiting(self, booking_id: str) -> None:
        self.board.forget(booking_id)

    def why_pending(self, event_id: int) -> str:
        if self.admin is None:
            return ""
        members = group_member_counts(self.admin, event_id)
        hint = idle_groups_hint(members)
        if hint is not None:
            return f"; {hint} (the request waits in Kafka meanwhile)"
        return "; consumers are running: " + ", ".join(f"{group} has {n}" for group, n in members.items())
