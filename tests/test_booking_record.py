import pytest

from labkit.store.bookings import BookingRecord

pytestmark = pytest.mark.unit

PENDING_HASH = {
    "booking_id": "b-1",
    "event_id": "3",
    "buyer_id": "lab",
    "section": "C",
    "subsection": "4",
    "partition": "23",
    "mode": "best_available",
    "quantity": "2",
    "requested_seats": "",
    "status": "PENDING",
    "requested_at": "1700000000123.5",
}


def test_a_pending_booking_has_no_outcome_yet() -> None:
    record = BookingRecord.parse(PENDING_HASH)
    assert (record.section, record.subsection, record.partition, record.quantity) == ("C", 4, 23, 2)
    assert (record.status, record.seats, record.reason, record.latency_ms, record.total_price) == (
        "PENDING",
        (),
        None,
        None,
        0,
    )
    assert record.requested_at == 1700000000123.5


def test_a_recorded_outcome_is_parsed_into_types() -> None:
    reserved = BookingRecord.parse(
        {**PENDING_HASH, "status": "RESERVED", "seats": "C-4-1-1,C-4-1-2", "total_price": "240", "latency_ms": "12.5"}
    )
    assert (reserved.seats, reserved.total_price, reserved.latency_ms) == (("C-4-1-1", "C-4-1-2"), 240, 12.5)
    failed = BookingRecord.parse({**PENDING_HASH, "status": "FAILED", "seats": "", "reason": "SOLD_OUT"})
    assert (failed.seats, failed.reason) == ((), "SOLD_OUT")
