"""Notebook 03's code exercise: send a `reserve-seats` request by hand, as the ticketing service does, and have the
real seat-reservation service answer it.

The check calls the learner's `send_reserve_seats(config, event_id, booking_id, section, subsection, quantity)`
with a fresh booking id, finds the record in the event's `reserve-seats` topic (partition and key against the
spec's), and waits for what the running seat-reservation service makes of it: a reply in `seat-reserved` or
`seat-reservation-failed` (on the request's partition), or a dead letter with the reason it could not be read.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from confluent_kafka import Producer

from labkit.domain.messages import DeadLetter, SeatReservationFailed, SeatReserved, decode
from labkit.domain.naming import KafkaTopicBuilder, PartitionKeyBuilder
from labkit.domain.partitioning import SectionBasedPartitionStrategy
from labkit.domain.seating import SeatingConfig
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.experiments.reading import LogRecord, read_topic
from labkit.experiments.replay import reply_topics
from labkit.polling import poll

if TYPE_CHECKING:
    from labkit.lab import Lab

SECTION, SUBSECTION, QUANTITY = "B", 7, 2
ANSWER_TIMEOUT = 30.0  # s for the seat-reservation service to answer or park the request


def _find(records: list[LogRecord], booking_id: str) -> LogRecord | None:
    return next((r for r in records if booking_id.encode() in r.value), None)


def _outcome(lab: Lab, event_id: int, partition: int, booking_id: str) -> str | None:
    """What the service made of the request: a reply's description, a dead letter's reason, or None yet."""
    for topic in reply_topics(event_id):
        if (reply := _find(read_topic(lab.bootstrap_servers, topic, {partition: 0}), booking_id)) is not None:
            message = decode(reply.value)
            if isinstance(message, SeatReserved):
                return f"RESERVED: seats {', '.join(message.seats)}"
            if isinstance(message, SeatReservationFailed):
                return f"FAILED {message.reason}: {message.message}"
    for record in read_topic(lab.bootstrap_servers, KafkaTopicBuilder.dead_letter__services_to_operator(event_id)):
        letter = decode(record.value)
        if isinstance(letter, DeadLetter) and booking_id.encode() in letter.original_value:
            return f"PARKED: {letter.reason}"
    return None


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong("answer with send_reserve_seats(config, event_id, booking_id, section, subsection, quantity)")
    booking_id = str(uuid.uuid4())
    try:
        answer(lab.kafka_config, event_id, booking_id, SECTION, SUBSECTION, QUANTITY)
    except Exception as error:  # the learner's code: any error is a verdict, not a crash
        return wrong(f"your function raised {type(error).__name__}: {error}")
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    record = _find(read_topic(lab.bootstrap_servers, topic), booking_id)
    if record is None:
        return wrong(
            f"no record with booking id {booking_id} reached {topic} before your function returned: produce() only "
            "queues it; flush() sends it and waits for the delivery report"
        )
    seating = lab.inventory.seating(event_id) or SeatingConfig.default()
    want = SectionBasedPartitionStrategy(seating).get_partition_for_subsection(SECTION, SUBSECTION)
    problems = []
    if record.partition != want:
        problems.append(
            f"it landed in partition {record.partition}; {SECTION}-{SUBSECTION}'s is {want}: pass "
            "partition=SectionBasedPartitionStrategy(…).get_partition_for_subsection(section, subsection)"
        )
    key = PartitionKeyBuilder.section_based(event_id, f"{SECTION}-{SUBSECTION}", want)
    if record.key != key:
        problems.append(f"its key is {record.key!r}; the spec's is {key!r} (PartitionKeyBuilder.section_based)")
    outcome = poll(lambda: _outcome(lab, event_id, record.partition, booking_id), ANSWER_TIMEOUT, interval=0.5)
    if outcome is None:
        problems.append(f"the seat-reservation service gave it no answer in {ANSWER_TIMEOUT:.0f} s: is it running?")
    elif not outcome.startswith("RESERVED"):
        problems.append(f"the seat-reservation service read it and answered {outcome}")
    if problems:
        return wrong(*problems)
    return correct(
        f"The seat-reservation service read your request from partition {record.partition} and answered it: "
        f"{outcome}. Nothing but the message connects the two services: any producer that writes the same bytes "
        "is, to it, the ticketing service."
    )


def _reference(
    config: dict[str, Any], event_id: int, booking_id: str, section: str, subsection: int, quantity: int
) -> None:
    # in a notebook: from labkit import KafkaTopicBuilder, PartitionKeyBuilder, SectionBasedPartitionStrategy, …
    from labkit.domain.naming import KafkaTopicBuilder, PartitionKeyBuilder
    from labkit.domain.partitioning import SectionBasedPartitionStrategy
    from labkit.domain.seating import SeatingConfig

    strategy = SectionBasedPartitionStrategy(SeatingConfig.default())  # notebook 03's event has the default venue
    partition = strategy.get_partition_for_subsection(section, subsection)
    request = {
        "schema": 1,
        "type": "reserve-seats",
        "booking_id": booking_id,
        "event_id": event_id,
        "buyer_id": "by-hand",
        "section": section,
        "subsection": subsection,
        "mode": "best_available",
        "quantity": quantity,
        "seat_ids": [],
        "allow_split": True,
        "requested_at": time.time() * 1000,
    }
    producer = Producer({**config, "acks": "all", "enable.idempotence": True})
    producer.produce(
        KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id),
        key=PartitionKeyBuilder.section_based(event_id, f"{section}-{subsection}", partition),
        value=json.dumps(request),
        partition=partition,
    )
    producer.flush(30)


request_by_hand = Exercise(
    key="03.request_by_hand",
    notebook="03_sending_bookings",
    title="send a reserve-seats request by hand, and have the seat-reservation service answer it",
    statement=(
        "Write `send_reserve_seats(config, event_id, booking_id, section, subsection, quantity)`: send one "
        "`reserve-seats` request for best-available seats, as the ticketing service does — to the event's "
        "reserve-seats topic, in the subsection's partition, with the spec's key, the value a JSON message like the "
        "one read from the log above — and return once it is written. The check calls it with a fresh booking id "
        f"for {QUANTITY} seats in {SECTION}-{SUBSECTION} and waits for the running seat-reservation service's answer."
    ),
    hints=(
        "KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id) names the topic; "
        "SectionBasedPartitionStrategy(SeatingConfig.default()) gives the partition; "
        "PartitionKeyBuilder.section_based(…) the key",
        "the value: json.dumps of a dict with the same fields as the record above (schema, type, booking_id, …), "
        "mode best_available",
        "flush() before returning: produce() only queues",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (request_by_hand,)
