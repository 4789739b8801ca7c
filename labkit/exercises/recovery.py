"""Notebook 06's exercise: count the redeliveries in `seat-reserved` after a crash — at-least-once, made visible.

The check sums the topic's log-end offsets (how many replies the log holds) and asks the booking store how many
bookings it recorded RESERVED; a learner's count must agree with both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.domain.naming import KafkaTopicBuilder
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.kafka.topics import end_offsets, list_topics

if TYPE_CHECKING:
    from labkit.lab import Lab


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if (
        not isinstance(answer, dict)
        or set(answer) != {"total", "distinct"}
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in answer.values())
    ):
        return wrong('answer with two counts: {"total": …, "distinct": …}')
    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    admin = lab.admin
    partitions = list_topics(admin)[topic]
    in_log = sum(end_offsets(admin, [(topic, p) for p in range(partitions)]).values())  # logs here start at 0
    reserved = int((lab.bookings(event_id).status == "RESERVED").sum())
    problems = []
    if answer["total"] != in_log:
        problems.append(
            f"total: the topic holds {in_log} replies (its {partitions} partitions' log-end offsets summed), you "
            f"counted {answer['total']}: read every partition from offset 0 to its end (auto.offset.reset=earliest "
            "in a fresh group; enable.partition.eof tells when a partition is done)"
        )
    if answer["distinct"] != reserved:
        same = (
            " — distinct equals total: count booking ids, not records" if answer["distinct"] == answer["total"] else ""
        )
        problems.append(
            f"distinct: the booking store recorded {reserved} bookings RESERVED, you counted {answer['distinct']} "
            f"distinct booking ids{same}"
        )
    if problems:
        return wrong(*problems)
    again = in_log - reserved
    return correct(
        f"{in_log} replies for {reserved} bookings: {again} answered twice after the crash (at-least-once: the "
        "new owner re-read what the dead consumer had answered but not committed), and each booking's seats were "
        "reserved once — the second answer came from the stored outcome."
        + ("" if again else " This run the consumer had committed all it answered: redelivery is a matter of timing.")
    )


def _reference(config: dict[str, str], event_id: int) -> dict[str, int]:
    """`config` is lab.kafka_config: bootstrap.servers (and a secured cluster's settings)."""
    import json
    import uuid

    from confluent_kafka import Consumer, KafkaError

    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    consumer = Consumer(
        {
            **config,
            "group.id": f"count-replies-{uuid.uuid4()}",  # a fresh group: no committed offsets
            "auto.offset.reset": "earliest",  # so it starts at offset 0
            "enable.partition.eof": True,  # and says when it reached a partition's end
            "enable.auto.commit": False,
        }
    )
    partitions = len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.subscribe([topic])
    total = 0
    booking_ids: set[str] = set()
    finished: set[int | None] = set()  # partitions read to their end
    try:
        while len(finished) < partitions:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    finished.add(message.partition())
                continue
            total += 1
            booking_ids.add(json.loads(message.value() or b"{}")["booking_id"])
    finally:
        consumer.close()
    return {"total": total, "distinct": len(booking_ids)}


redeliveries = Exercise(
    key="07.redeliveries",
    notebook="07_failure_and_recovery",
    title="count the redeliveries in seat-reserved",
    statement=(
        "Read the whole `seat-reserved` topic of this event from offset 0 with a consumer in a fresh group, and "
        'count the replies and the distinct booking ids in them: `{"total": …, "distinct": …}`. The difference is '
        "what the crash made the services answer twice."
    ),
    hints=(
        "a consumer with a new group.id and auto.offset.reset=earliest starts every partition at offset 0",
        "enable.partition.eof=True makes poll() return a _PARTITION_EOF error once per partition when it is read to "
        "its end: stop when every partition has reported it",
        "each message's value is JSON with a booking_id: a set of them counts the distinct ones",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (redeliveries,)
