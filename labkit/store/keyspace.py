"""The Redis keyspace, in one place. Every key starts with `labkit:event:{id}:` so events never mix."""

from __future__ import annotations


def event_prefix(event_id: int) -> str:
    """Every key of one event starts with this (deleting an event deletes `event_prefix:*`)."""
    return f"labkit:event:{event_id}"


def seating(event_id: int) -> str:
    """JSON of the event's SeatingConfig, written once by setup."""
    return f"{event_prefix(event_id)}:seating"


def seats(event_id: int, subsection_id: str) -> str:
    """One byte per seat, row-major: '0' available, '1' reserved."""
    return f"{event_prefix(event_id)}:seats:{subsection_id}"


def outcomes(event_id: int, subsection_id: str) -> str:
    """Hash booking id → the reservation's outcome: the idempotency record and the seats' owners."""
    return f"{event_prefix(event_id)}:outcomes:{subsection_id}"


def subsection_counters(event_id: int, subsection_id: str) -> str:
    return f"{event_prefix(event_id)}:counters:{subsection_id}"


def event_counters(event_id: int) -> str:
    return f"{event_prefix(event_id)}:counters"


def booking(event_id: int, booking_id: str) -> str:
    """Hash: the ticketing service's record of one booking (status, seats, reason, times)."""
    return f"{event_prefix(event_id)}:booking:{booking_id}"


def booking_ids(event_id: int) -> str:
    """List of every booking id of the event, in the order they were made."""
    return f"{event_prefix(event_id)}:bookings"


def ticketing_stats(event_id: int) -> str:
    """Hash of counters: sent, RESERVED, FAILED, and failed:<REASON>."""
    return f"{event_prefix(event_id)}:ticketing-stats"
