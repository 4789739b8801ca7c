import json
import uuid

import pytest

from labkit.domain.messages import (
    MAX_MESSAGE_BYTES,
    DeadLetter,
    MessageError,
    ReserveSeats,
    SeatReservationFailed,
    SeatReserved,
    decode,
    encode,
)

pytestmark = pytest.mark.unit

BOOKING = str(uuid.uuid4())


def reserve(**overrides: object) -> dict:
    body = json.loads(encode(ReserveSeats(BOOKING, 1, "buyer", "A", 1, "best_available", 2)))
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    "message",
    [
        ReserveSeats(BOOKING, 1, "buyer", "A", 1, "best_available", 2),
        ReserveSeats(BOOKING, 1, "buyer", "A", 1, "manual", 2, ("A-1-1-1", "A-1-1-2")),
        SeatReserved(BOOKING, 1, "A", 1, ("A-1-1-1",), 200, 499, 1),
        SeatReservationFailed(BOOKING, 1, "A", 1, "SOLD_OUT", "A-1 is sold out"),
        DeadLetter("seat-reservation-service", "not JSON", "t", 0, 5, None, "AAE="),
    ],
)
def test_every_message_round_trips_with_a_schema_version(message: object) -> None:
    data = encode(message)  # type: ignore[arg-type]
    assert json.loads(data)["schema"] == 1
    assert decode(data) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe garbage", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (None, "empty message"),
        (b"x" * (MAX_MESSAGE_BYTES + 1), "more than the"),
        (json.dumps(reserve(schema=2)).encode(), "unknown schema version 2"),
        (json.dumps(reserve(type="nope")).encode(), "unknown message type 'nope'"),
        (json.dumps(reserve(extra=1)).encode(), "unknown field(s) ['extra']"),
        (
            json.dumps(reserve(TYPE="reserve-seats")).encode(),
            "unknown field(s) ['TYPE']",
        ),  # a class variable, not a field
        (
            json.dumps({k: v for k, v in reserve().items() if k != "booking_id"}).encode(),
            "missing field(s) ['booking_id']",
        ),
        (json.dumps(reserve(quantity="2")).encode(), "field 'quantity' must be int"),
        (json.dumps(reserve(subsection=True)).encode(), "field 'subsection' must be int"),
        (json.dumps(reserve(booking_id="not-a-uuid")).encode(), "booking_id must be a UUID"),
        (json.dumps(reserve(mode="fastest")).encode(), "mode must be one of"),
        (json.dumps(reserve(mode="manual", seat_ids=["A-1-1-1"])).encode(), "must equal its number of seat_ids"),
        (json.dumps(reserve(seat_ids=[1])).encode(), "list of strings"),
    ],
)
def test_decoding_says_what_is_wrong(data: bytes | None, message: str) -> None:
    with pytest.raises(MessageError) as info:
        decode(data, ReserveSeats)
    assert message in str(info.value)


def test_a_reply_is_not_accepted_where_a_request_is_expected() -> None:
    with pytest.raises(MessageError, match="expected a reserve-seats message"):
        decode(encode(SeatReservationFailed(BOOKING, 1, "A", 1, "SOLD_OUT", "x")), ReserveSeats)
