"""The bookings view rebuilt from the reply topics: pure logic on records, and against the store."""

from __future__ import annotations

import pytest

from labkit import Lab
from labkit.domain.messages import SeatReservationFailed, SeatReserved, encode
from labkit.experiments.reading import LogRecord
from labkit.experiments.replay import bookings_view, read_replies, replies_frame, store_view, view_differences
from tests.helpers import SMALL_VENUE

A, B = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"


def record(offset: int, value: bytes, at: int) -> LogRecord:
    return LogRecord("t", 0, offset, at, None, value)


@pytest.mark.unit
def test_the_view_keeps_one_answer_per_booking_and_differences_are_named() -> None:
    reserved = SeatReserved(A, 1, "A", 1, ("A-1-1-2", "A-1-1-1"), 10, 8, 2)
    failed = SeatReservationFailed(B, 1, "A", 1, "SOLD_OUT", "no seats left")
    replies = replies_frame(
        [record(0, encode(reserved), 1), record(1, encode(failed), 2), record(2, encode(reserved), 3)]
    )
    assert len(replies) == 3 and list(replies.status) == ["RESERVED", "FAILED", "RESERVED"]
    view = bookings_view(replies)
    assert view.to_dict("records") == [
        {"booking_id": A, "status": "RESERVED", "seats": ("A-1-1-1", "A-1-1-2"), "reason": None},
        {"booking_id": B, "status": "FAILED", "seats": (), "reason": "SOLD_OUT"},
    ]
    assert view_differences(view, view) == []
    changed = view.copy()
    changed.loc[1, "reason"] = "NOT_ENOUGH_SEATS"
    assert view_differences(view, changed) == [f"{B}: reason 'SOLD_OUT' in the replay, 'NOT_ENOUGH_SEATS' in the store"]
    assert view_differences(view.iloc[:1], view) == [f"{B}: only in the store"]


@pytest.mark.integration
def test_replaying_the_reply_topics_gives_the_stores_view(lab: Lab, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    bookings = [lab.book(event_id, "A", 1, quantity=4) for _ in range(6)]  # 20 seats: the sixth is refused
    for booking in bookings:
        booking.wait(timeout=60)
    replayed = bookings_view(read_replies(lab.bootstrap_servers, event_id))
    assert view_differences(replayed, store_view(lab.bookings(event_id))) == []
    assert replayed.status.value_counts().to_dict() == {"RESERVED": 5, "FAILED": 1}
