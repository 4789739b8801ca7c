"""Bad input can never take the system down: a corpus of malformed requests on the real cluster, and
property-based tests (hypothesis) of the decoder and of the reservation script.

Every corpus entry must end as a dead-letter record (undecodable) or a `seat-reservation-failed` reply with
a reason (decodable but impossible); afterwards the consumer is alive, its group has no lag, and a good
booking on the same partition is served.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message, Producer
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from labkit import KafkaTopicBuilder, Lab, SeatingConfig, Settings
from labkit.domain.messages import (
    INVALID_REQUEST,
    INVALID_SEAT,
    MAX_MESSAGE_BYTES,
    DeadLetter,
    MessageError,
    ReserveSeats,
    SeatReservationFailed,
    decode,
    decode_in_python,
    encode,
    now_ms,
)
from labkit.kafka.clients import base_config
from labkit.polling import wait_until
from labkit.services.dead_letter import KEPT_BYTES
from labkit.store.inventory import SeatInventory
from tests.helpers import SMALL_VENUE, read_all

DEAD_LETTER = "dead-letter"
DROP = object()


def request(event_id: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema": 1,
        "type": "reserve-seats",
        "booking_id": str(uuid.uuid4()),
        "event_id": event_id,
        "buyer_id": "fuzz",
        "section": "A",
        "subsection": 1,
        "mode": "best_available",
        "quantity": 1,
        "seat_ids": [],
        "allow_split": True,
        "requested_at": now_ms(),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not DROP}


def manual(event_id: int, seats: list[str], **changes: Any) -> dict[str, Any]:
    return request(event_id, **{"mode": "manual", "quantity": len(seats), "seat_ids": seats, **changes})


def corpus(event_id: int) -> list[tuple[str, bytes | None, str]]:
    """(name, bytes, expected outcome: DEAD_LETTER or the failure reason)."""
    as_bytes = lambda body: json.dumps(body).encode()  # noqa: E731
    return [
        ("malformed JSON", b'{"schema": 1, "type": "reserve-seats",', DEAD_LETTER),
        ("not UTF-8", b"\xff\xfe\x00garbage", DEAD_LETTER),
        ("empty value", b"", DEAD_LETTER),
        ("no value (tombstone)", None, DEAD_LETTER),
        ("a JSON array", b"[1, 2, 3]", DEAD_LETTER),
        ("a JSON string", b'"reserve me"', DEAD_LETTER),
        ("quantity as a string", as_bytes(request(event_id, quantity="2")), DEAD_LETTER),
        ("quantity as a boolean", as_bytes(request(event_id, quantity=True)), DEAD_LETTER),
        ("subsection as a float", as_bytes(request(event_id, subsection=1.5)), DEAD_LETTER),
        ("section as an object", as_bytes(request(event_id, section={"name": "A"})), DEAD_LETTER),
        (
            "quantity overflowing to infinity",
            as_bytes(request(event_id)).replace(b'"quantity": 1', b'"quantity": 1e400'),
            DEAD_LETTER,
        ),
        ("unknown field", as_bytes(request(event_id, discount="100%")), DEAD_LETTER),
        ("missing field", as_bytes(request(event_id, section=DROP)), DEAD_LETTER),
        ("missing booking_id", as_bytes(request(event_id, booking_id=DROP)), DEAD_LETTER),
        ("booking_id not a UUID", as_bytes(request(event_id, booking_id="1; DROP TABLE")), DEAD_LETTER),
        ("unknown event (another event's id)", as_bytes(request(event_id + 1)), DEAD_LETTER),
        ("unknown schema version", as_bytes(request(event_id, schema=2)), DEAD_LETTER),
        ("unknown message type", as_bytes(request(event_id, type="cancel-seats")), DEAD_LETTER),
        ("a reply where a request belongs", as_bytes(request(event_id, type="seat-reserved")), DEAD_LETTER),
        ("unknown mode", as_bytes(request(event_id, mode="vip")), DEAD_LETTER),
        ("manual quantity not matching its seats", as_bytes(manual(event_id, ["A-1-1-1"], quantity=3)), DEAD_LETTER),
        ("1 MB message", as_bytes(request(event_id, buyer_id="x" * 999_000)), DEAD_LETTER),
        ("quantity 0", as_bytes(request(event_id, quantity=0)), INVALID_REQUEST),
        ("negative quantity", as_bytes(request(event_id, quantity=-3)), INVALID_REQUEST),
        ("huge quantity", as_bytes(request(event_id, quantity=10**30)), INVALID_REQUEST),
        ("unknown section", as_bytes(request(event_id, section="Z")), INVALID_REQUEST),
        ("subsection 0", as_bytes(request(event_id, subsection=0)), INVALID_REQUEST),
        ("subsection out of range", as_bytes(request(event_id, subsection=99)), INVALID_REQUEST),
        ("seat row out of range", as_bytes(manual(event_id, ["A-1-99-1"])), INVALID_SEAT),
        ("seat number out of range", as_bytes(manual(event_id, ["A-1-1-0"])), INVALID_SEAT),
        ("seat of another subsection", as_bytes(manual(event_id, ["A-2-1-1"])), INVALID_SEAT),
        ("malformed seat id", as_bytes(manual(event_id, ["A-1-x"])), INVALID_SEAT),
        ("the same seat twice", as_bytes(manual(event_id, ["A-1-1-1", "A-1-1-1"])), INVALID_SEAT),
    ]


@pytest.mark.integration
def test_the_bad_input_corpus_ends_parked_or_refused_and_kills_nothing(
    lab: Lab, settings: Settings, event_id: int
) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    cases = corpus(event_id)
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    producer = Producer(base_config(settings.kafka_bootstrap_servers or "", "test-bad-input"))
    offsets: dict[str, int] = {}

    def record_offset(name: str) -> Callable[[KafkaError | None, Message], None]:
        def record(error: KafkaError | None, message: Message) -> None:
            offsets.setdefault(name, message.offset() or 0)

        return record

    for name, value, _ in cases:  # all on A-1's partition, in order, ahead of the good booking below
        producer.produce(topic, value, key=name.encode(), partition=0, on_delivery=record_offset(name))
    assert producer.flush(60) == 0 and len(offsets) == len(cases)

    good = lab.book(event_id=event_id, section="A", subsection=1, quantity=2).wait(timeout=60)
    assert good.status == "RESERVED"  # the partition is not stuck behind the bad input

    parked_expected = [name for name, _, outcome in cases if outcome == DEAD_LETTER]
    parked = {
        d.offset: d
        for d in read_all(settings, KafkaTopicBuilder.dead_letter__services_to_operator(event_id), len(parked_expected))
        if isinstance(d, DeadLetter)
    }
    for name in parked_expected:
        record = parked[offsets[name]]
        assert record.reason and (record.topic, record.partition, record.key) == (topic, 0, name)
    huge = parked[offsets["1 MB message"]]
    assert huge.truncated and huge.value_size > 999_000 and len(huge.original_value) == KEPT_BYTES

    refused_expected = {
        json.loads(value)["booking_id"]: outcome
        for _, value, outcome in cases
        if outcome != DEAD_LETTER and value is not None
    }
    failed_topic = KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(event_id)
    refused = {
        r.booking_id: r.reason
        for r in read_all(settings, failed_topic, len(refused_expected))
        if isinstance(r, SeatReservationFailed)
    }
    assert refused == refused_expected

    assert all(lab.consumers().alive)  # 0 consumer deaths
    wait_until(lambda: lab.groups(event_id).lag.sum() == 0, 60, "no lag on any partition")  # 0 stuck partitions
    assert lab.inventory.counters(event_id, "A-1") == {"available": 18, "reserved": 2}
    print(f"bad-input corpus: {len(cases)} cases, {len(parked_expected)} parked, {len(refused_expected)} refused")


# -- the decoder, property-based --------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.unit
@given(st.binary(max_size=512))
def test_any_bytes_decode_or_raise_message_error(data: bytes) -> None:
    try:
        decode(data)
    except MessageError as error:
        assert str(error)  # says what is wrong


@pytest.mark.unit
@given(st.dictionaries(st.sampled_from(list(request(1))) | st.text(max_size=12), JSON_VALUES, max_size=14))
def test_any_json_object_decodes_or_raises_message_error(body: dict[str, Any]) -> None:
    try:
        decode(json.dumps(body).encode())
    except MessageError as error:
        assert str(error)


@pytest.mark.unit
@given(field=st.sampled_from(sorted(set(request(1)) - {"schema", "type"})), value=JSON_VALUES)
def test_a_request_with_one_field_replaced_decodes_or_raises_message_error(field: str, value: Any) -> None:
    body = {**request(1), field: value}
    try:
        decoded = decode(json.dumps(body).encode())
    except MessageError:
        return
    assert isinstance(decoded, ReserveSeats) and encode(decoded) and decode(encode(decoded)) == decoded


def _outcome(data: bytes, decoder: Callable[[bytes], Any]) -> tuple[str, Any]:
    try:
        return "decoded", decoder(data)
    except MessageError as error:
        return "refused", str(error)


@pytest.mark.unit
@given(
    st.one_of(
        st.builds(lambda field, value: {**request(1), field: value}, st.sampled_from(sorted(request(1))), JSON_VALUES),
        st.dictionaries(st.sampled_from(list(request(1))) | st.text(max_size=12), JSON_VALUES, max_size=14),
        st.builds(
            lambda body: {**body, "schema": 1, "type": "seat-reserved"},
            st.dictionaries(
                st.sampled_from(
                    ["booking_id", "event_id", "section", "subsection", "seats", "total_price", "adjacent"]
                ),
                JSON_VALUES,
            ),
        ),
    )
)
def test_msgspec_and_the_python_checks_accept_and_refuse_the_same_messages(body: dict[str, Any]) -> None:
    """decode checks in C and falls back to decode_in_python for what it refuses; this is the proof that the
    fast path accepts nothing the Python checks refuse, and says the same when it refuses."""
    data = json.dumps(body).encode()
    assert _outcome(data, decode) == _outcome(data, lambda d: decode_in_python(d, None))


@pytest.mark.unit
def test_the_corpus_decodes_the_same_in_c_and_in_python() -> None:
    for name, data, _ in corpus(1):
        if data is not None and len(data) <= MAX_MESSAGE_BYTES:
            assert _outcome(data, decode) == _outcome(data, lambda d: decode_in_python(d, None)), name


# -- the reservation script, property-based ---------------------------------------------------------------------
TINY = SeatingConfig(sections="A", subsections=2, rows=2, seats_per_row=4)  # 8 seats per subsection
SEAT_IDS = [f"A-{sub}-{row}-{seat}" for sub in (1, 2) for row in (1, 2) for seat in range(1, 5)]
REQUESTS = st.one_of(
    st.builds(lambda sub, q, split: ("best", sub, q, split), st.integers(1, 2), st.integers(1, 5), st.booleans()),
    st.builds(lambda seats: ("manual", seats), st.lists(st.sampled_from(SEAT_IDS), min_size=1, max_size=4)),
)


def _reserve_seats(event_id: int, spec: tuple[Any, ...]) -> ReserveSeats:
    booking_id = str(uuid.uuid4())
    if spec[0] == "best":
        _, sub, quantity, split = spec
        return ReserveSeats(booking_id, event_id, "t", "A", sub, "best_available", quantity, allow_split=split)
    seats = tuple(spec[1])
    sub = int(seats[0].split("-")[1])
    return ReserveSeats(booking_id, event_id, "t", "A", sub, "manual", len(seats), seats)


@pytest.mark.integration
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(REQUESTS, min_size=1, max_size=6), min_size=1, max_size=6),
    redeliver=st.lists(st.integers(0, 40), max_size=6),
)
def test_random_interleavings_of_reservations_keep_every_invariant(
    lab: Lab, batches: list[list[tuple[Any, ...]]], redeliver: list[int]
) -> None:
    event_id = int(uuid.uuid4().int % 10**9) + 10**9  # a fresh venue in Redis per example (no Kafka needed)
    inventory = SeatInventory(lab.redis)
    inventory.setup(event_id, TINY)
    sent: list[ReserveSeats] = []
    answers: dict[str, tuple[Any, ...]] = {}
    for batch in batches:
        requests = [_reserve_seats(event_id, spec) for spec in batch]
        requests += [sent[i] for i in redeliver if i < len(sent)]  # redeliveries mixed into later batches
        for reservation in inventory.reserve(requests):
            reply = reservation.reply
            outcome = (type(reply).__name__, getattr(reply, "seats", ()), getattr(reply, "reason", None))
            assert answers.setdefault(reservation.request.booking_id, outcome) == outcome  # the same answer again
        sent += [r for r in requests if r not in sent]
    rows = inventory.seat_states(event_id)
    held = {r["seat_id"]: r["booking_id"] for r in rows if r["state"] == "reserved"}
    sold = [(seat, b) for b, (_, seats, _) in answers.items() for seat in seats]
    assert len(sold) == len({seat for seat, _ in sold})  # no seat in two bookings
    assert dict(sold) == held  # exactly the seats answered as reserved are held, each by its booking
    for sub in (1, 2):
        n = sum(1 for r in rows if r["subsection"] == sub and r["state"] == "reserved")
        assert inventory.counters(event_id, f"A-{sub}") == {"available": 8 - n, "reserved": n}
    assert inventory.counters(event_id) == {"available": 16 - len(held), "reserved": len(held)}
