"""Notebook 05's exercise: after a rush on three subsections, which one sold out first?

A subsection's replies share its partition of `seat-reserved`, so the last record there is the reply that gave
away its last seat, and its timestamp says when; the reference reads it with a Consumer. The check asks the seat
store which subsections have no seat left and reads their partitions whole: a request redelivered after a
rebalance is answered again, later, so it takes each booking's first reply, and the latest of those.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from labkit.domain.messages import decode
from labkit.domain.naming import KafkaTopicBuilder
from labkit.domain.partitioning import SectionBasedPartitionStrategy
from labkit.errors import WaitTimeout
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.experiments.load import wait_all
from labkit.experiments.reading import log_ranges, read_topic

if TYPE_CHECKING:
    from labkit.lab import Lab

RUSHED = 3  # subsections rushed at once
WEIGHTS = (5, 3, 2)  # their shares of the requests: they sell out one after the other
RATE = 200  # requests per second, so that with the default venue they sell out about a second apart
CHUNK = 10  # requests per book_many call


@dataclass(frozen=True)
class Rush:
    booking_ids: list[str]


def rush(lab: Lab, event_id: int, seed: int | None = None, timeout: float = 120.0) -> Rush:
    """Requests of 4 seats (2 or 1 where 4 does not divide a subsection's seats, so that the last seats go too)
    to three untouched subsections picked at random, interleaved at RATE per second, each subsection getting a
    different share, until all three have had enough requests to sell out; waits for every outcome."""
    seating = lab.runtime.inventory.require_seating(event_id)
    rng = random.Random(seed)
    free = lab.runtime.inventory.seats_left(event_id)
    untouched = [(s, n) for s, n in seating.subsection_ids() if free[f"{s}-{n}"] == seating.seats_per_subsection]
    chosen = rng.sample(untouched, RUSHED)
    quantity = next(q for q in (4, 2, 1) if seating.seats_per_subsection % q == 0)
    needed = math.ceil(seating.seats_per_subsection / quantity) + 2
    counts = dict.fromkeys(chosen, 0)
    orders = []
    while min(counts.values()) < needed:
        pick = rng.choices(chosen, WEIGHTS)[0]
        counts[pick] += 1
        orders.append({"section": pick[0], "subsection": pick[1], "quantity": quantity})
    ids: list[str] = []
    started = time.monotonic()
    for first in range(0, len(orders), CHUNK):  # open loop: request i is due at start + i / RATE
        time.sleep(max(0.0, started + first / RATE - time.monotonic()))  # pacing the load, not awaiting a result
        ids += [b.booking_id for b in lab.book_many(orders[first : first + CHUNK], event_id=event_id)]
    left = wait_all(lab, event_id, ids, timeout)
    if left:
        raise WaitTimeout(f"{left} of the rush's {len(ids)} bookings got no outcome within {timeout:.0f} s")
    return Rush(ids)


def sold_out_at(lab: Lab, event_id: int) -> dict[str, pd.Timestamp]:
    """Subsection → when the reply that gave away its last seat was written, for every subsection the seat store
    says has no seat left and whose partition of `seat-reserved` holds its replies. A redelivered request is
    answered again, later: each booking counts at its first reply, and the latest of those is the sell-out."""
    seating = lab.runtime.inventory.require_seating(event_id)
    strategy = SectionBasedPartitionStrategy(seating)
    left = lab.runtime.inventory.seats_left(event_id)
    partitions = {
        f"{section}-{number}": strategy.get_partition_for_subsection(section, number)
        for section, number in seating.subsection_ids()
        if left[f"{section}-{number}"] == 0
    }
    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    ranges = log_ranges(lab.bootstrap_servers, topic)
    first_reply: dict[tuple[int, str], int] = {}  # (partition, booking id) → its first reply's timestamp
    for record in read_topic(lab.bootstrap_servers, topic, start={p: ranges[p].start for p in partitions.values()}):
        first_reply.setdefault((record.partition, decode(record.value).booking_id), record.timestamp_ms)
    sold_at: dict[int, int] = {}
    for (partition, _), written_ms in first_reply.items():
        sold_at[partition] = max(sold_at.get(partition, 0), written_ms)
    return {s: pd.Timestamp(sold_at[p], unit="ms") for s, p in partitions.items() if p in sold_at}


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    seating = lab.runtime.inventory.require_seating(event_id)
    if not isinstance(answer, str) or not re.fullmatch(r"[A-Z]-\d+", answer):
        return wrong(f"answer with a subsection's id, like 'C-4'; got {answer!r}")
    section, number = answer.split("-")
    if section not in seating.sections or not 1 <= int(number) <= seating.subsections:
        return wrong(
            f"{answer} is not a subsection of this venue (sections {seating.sections}, 1 to {seating.subsections})"
        )
    times = sold_out_at(lab, event_id)
    if not times:
        return wrong("no subsection is sold out yet: run the rush first")
    order = sorted(times, key=lambda s: (times[s], s))
    first = order[0]
    if answer not in times:
        left = lab.runtime.inventory.seats_left(event_id)[answer]
        if left:
            return wrong(
                f"{answer} has {left} seats left: it did not sell out (the panel shows 0 seats left where one did)"
            )
        return wrong(f"{answer} has no seat left, but its partition of seat-reserved holds no reply to say when")
    if times[answer] > times[first]:
        return wrong(
            f"{answer} sold out, but {(times[answer] - times[first]).total_seconds():.2f} s after {first}: the reply "
            f"that gave away {first}'s last seat was written at {times[first].strftime('%H:%M:%S.%f')[:-3]}"
        )
    others = ", ".join(f"{s} at +{(times[s] - times[answer]).total_seconds():.2f} s" for s in order if s != answer)
    return correct(f"{answer} sold out first; then {others or 'no other'}.")


def _reference(lab: Lab, event_id: int) -> str:
    from confluent_kafka import Consumer, TopicPartition

    from labkit.domain.naming import KafkaTopicBuilder
    from labkit.domain.partitioning import SectionBasedPartitionStrategy

    seating = lab.runtime.inventory.require_seating(event_id)
    strategy = SectionBasedPartitionStrategy(seating)
    sold_out = [s for s, left in lab.runtime.inventory.seats_left(event_id).items() if left == 0]  # the panel's 0s
    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    reader = Consumer({**lab.kafka_config, "group.id": "unused", "enable.auto.commit": False})
    last_reply_ms = {}
    try:
        for subsection in sold_out:  # its replies are in its partition: the last one gave away its last seat
            section, number = subsection.split("-")
            partition = strategy.get_partition_for_subsection(section, int(number))
            low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high == low:
                continue  # no reply in the log: nothing says when
            reader.assign([TopicPartition(topic, partition, high - 1)])
            message = reader.poll(10)
            assert message is not None and not message.error(), f"no record at offset {high - 1} of {partition}"
            last_reply_ms[subsection] = message.timestamp()[1]  # (type, ms): the reply's create time
    finally:
        reader.close()
    return min(last_reply_ms, key=last_reply_ms.__getitem__)


first_sold_out = Exercise(
    key="05.first_sold_out",
    notebook="05_dashboard",
    title="which subsection sold out first?",
    statement=(
        f"`rush` sends requests of 4 seats to three subsections at {RATE}/s, each getting a different share of them, "
        "until all three are sold out. The snapshot below shows which subsections have no seat left. Which of them "
        "sold out first? Ask Kafka: each subsection's replies are in its partition of `seat-reserved`. Answer with "
        "its id, like 'C-4'."
    ),
    hints=(
        "the partition panel's cells with 0 seats left are the sold-out subsections, and each cell names its partition",
        "a sold-out subsection's last seat-reserved record is the reply that gave away its last seat: after it, its "
        "requests fail (their replies go to seat-reservation-failed)",
        "Consumer.get_watermark_offsets gives a partition's end; assign it at end - 1, poll once, and "
        "message.timestamp()[1] is when that reply was written (ms)",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (first_sold_out,)
