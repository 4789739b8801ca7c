"""Notebook 04's exercises: find a burst's hot partition from log-end offsets, and predict an oversubscribed
subsection's outcomes.

The first check reads the log-end offsets of `reserve-seats` from the brokers (before the burst, when it is sent,
and again when it checks); the second reads the rush's outcomes from the booking store.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from labkit.domain.naming import KafkaTopicBuilder
from labkit.domain.partitioning import SectionBasedPartitionStrategy
from labkit.errors import WaitTimeout
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.experiments.load import wait_all
from labkit.kafka.topics import end_offsets

if TYPE_CHECKING:
    from labkit.lab import Lab

BURST = 200  # bookings of one seat each in the skewed burst
HOT_MARGIN = 8  # the hot subsection gets this many more than the busiest of the others


@dataclass(frozen=True)
class SkewedBurst:
    """A burst sent by `skewed_burst`: where it went is in the log, not here; `before` is the log-end offsets the
    brokers reported just before it was sent."""

    lab: Lab
    event_id: int
    topic: str
    before: dict[int, int]
    booking_ids: list[str]

    def log_end_offsets(self) -> dict[int, int]:
        ends = end_offsets(self.lab.admin, [(self.topic, p) for p in self.before])
        return {p: ends[(self.topic, p)] for p in self.before}


def skewed_burst(
    lab: Lab, event_id: int, count: int = BURST, seed: int | None = None, timeout: float = 120.0
) -> SkewedBurst:
    """Send `count` one-seat bookings over the venue, one subsection (picked at random) clearly more often than
    any other, and wait for their outcomes."""
    seating = lab.runtime.inventory.require_seating(event_id)
    rng = random.Random(seed)
    subsections = list(seating.subsection_ids())
    hot = rng.choice(subsections)
    others = Counter(rng.choice([s for s in subsections if s != hot]) for _ in range(count))
    hot_count = max(others.values()) + HOT_MARGIN
    orders = [s for s, n in others.items() for _ in range(n)][: count - hot_count] + [hot] * hot_count
    rng.shuffle(orders)
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    partitions = range(seating.subsection_count)
    ends = end_offsets(lab.admin, [(topic, p) for p in partitions])
    sent = lab.book_many([{"section": s, "subsection": n, "quantity": 1} for s, n in orders], event_id=event_id)
    lab.flush()
    ids = [b.booking_id for b in sent]
    left = wait_all(lab, event_id, ids, timeout)
    if left:
        raise WaitTimeout(f"{left} of the burst's {len(ids)} bookings got no outcome within {timeout:.0f} s")
    return SkewedBurst(lab, event_id, topic, {p: ends[(topic, p)] for p in partitions}, ids)


def _judge_hot(answer: object, burst: SkewedBurst) -> Verdict:
    seating = burst.lab.runtime.inventory.require_seating(burst.event_id)
    partitions = SectionBasedPartitionStrategy(seating).partition_map()  # {'A-1': 0, …}
    where = {partition: subsection for subsection, partition in partitions.items()}
    if isinstance(answer, str) and answer in partitions:
        return wrong(f"answer with the partition's number: {answer} is partition {partitions[answer]}")
    if isinstance(answer, bool) or not isinstance(answer, int) or answer not in burst.before:
        return wrong(f"answer with a partition number of reserve-seats, 0 to {len(burst.before) - 1}; got {answer!r}")
    after = burst.log_end_offsets()
    grew = {p: after[p] - burst.before[p] for p in after}
    hot = max(grew, key=lambda p: grew[p])
    fullest = max(after, key=lambda p: after[p])
    if answer == hot:
        runner_up = max(n for p, n in grew.items() if p != hot)
        return correct(
            f"partition {hot} ({where[hot]}) got {grew[hot]} of the burst's {sum(grew.values())} requests (log-end "
            f"offset {burst.before[hot]} → {after[hot]}); the next busiest got {runner_up}."
        )
    problems = [
        f"partition {answer} ({where[answer]}) got {grew[answer]} of this burst's requests (log-end offset "
        f"{burst.before[answer]} → {after[answer]}); one partition got {grew[hot]}"
    ]
    if answer == fullest:
        problems.append(
            f"partition {answer} holds the most messages in all ({after[answer]}), but {burst.before[answer]} of them "
            "were written before this burst: a log-end offset counts everything ever written, so compare two readings"
        )
    return wrong(*problems)


def _hot_reference(before: pd.DataFrame, after: pd.DataFrame) -> int:
    grew = after.set_index("partition").messages - before.set_index("partition").messages  # this burst's requests
    return int(grew.idxmax())


hot_partition = Exercise(
    key="03.hot_partition",
    notebook="03_sending_bookings",
    title="find the hot partition of a burst from log-end offsets",
    statement=(
        f"`skewed_burst` sends {BURST} one-seat bookings, one subsection (it picks at random) clearly more often "
        "than the others. Using only the log-end offsets of reserve-seats (`before` and `after`), say which "
        "partition got the most of this burst's requests."
    ),
    hints=(
        "a log-end offset is the number of messages ever written to a partition, this burst's and earlier ones",
        "subtract: after.messages − before.messages is what this burst wrote to each partition",
        "pandas: (after.set_index('partition').messages - before.set_index('partition').messages).idxmax()",
    ),
    judge=_judge_hot,
    reference=_hot_reference,
    needs=("burst",),
)


# -- an oversubscribed subsection ---------------------------------------------------------------------------
def _judge_rush(answer: object, lab: Lab, event_id: int, booking_ids: list[str]) -> Verdict:
    if not isinstance(answer, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in answer.values()):
        return wrong('answer with counts: {"RESERVED": …, "NOT_ENOUGH_SEATS": …, "SOLD_OUT": …}')
    rush = lab.bookings(event_id).set_index("booking_id").loc[booking_ids]
    outcome = rush.status.where(rush.status != "FAILED", rush.reason)
    actual = outcome.value_counts().to_dict()
    keys = sorted(set(actual) | {k for k, v in answer.items() if v})
    problems = [
        f"{key}: you predicted {answer.get(key, 0)}, the store recorded {actual.get(key, 0)}"
        for key in keys
        if answer.get(key, 0) != actual.get(key, 0)
    ]
    if problems:
        subsections = sorted(set(rush.section + "-" + rush.subsection.astype(str)))
        reserved = rush[rush.status == "RESERVED"]
        seats = int(reserved.seats.map(len).sum())
        left = {s: lab.runtime.inventory.counters(event_id, s).get("available", 0) for s in subsections}
        leaving = ", ".join(f"{n} in {s}" for s, n in left.items())
        problems.append(
            f"the first {len(reserved)} requests took {seats} seats, leaving {leaving}; a request fails "
            "NOT_ENOUGH_SEATS while seats are left but fewer than it asks for, SOLD_OUT once none are"
        )
        return wrong(*problems)
    return correct(
        f"{', '.join(f'{k} {v}' for k, v in actual.items())}: first come, first served, whole requests only, "
        "because one partition and one consumer at a time serve the subsection in the order the requests were sent."
    )


def _rush_reference(free_seats: int, requests: int, quantity: int = 4) -> dict[str, int]:
    reserved = min(requests, free_seats // quantity)  # whole requests, in the order sent, while seats last
    left = free_seats - reserved * quantity
    failed = requests - reserved
    return {"RESERVED": reserved, "NOT_ENOUGH_SEATS": failed if left else 0, "SOLD_OUT": 0 if left else failed}


rush_outcome = Exercise(
    key="03.rush_outcome",
    notebook="03_sending_bookings",
    title="predict an oversubscribed subsection's outcomes",
    statement=(
        "The next cell sends OVERSUBSCRIBED requests of 4 seats each to one subsection, which has `free_before` "
        "seats free. Predict how many end RESERVED, how many fail NOT_ENOUGH_SEATS and how many SOLD_OUT."
    ),
    hints=(
        "requests for one subsection sit in one partition and are served in the order they were sent",
        "a request takes all 4 seats or none; how many whole requests fit in the free seats?",
        "once fewer than 4 but more than 0 seats are left, a request fails NOT_ENOUGH_SEATS; SOLD_OUT needs 0 left",
    ),
    judge=_judge_rush,
    reference=_rush_reference,
    needs=("lab", "event_id", "booking_ids"),
)

EXERCISES: tuple[Exercise, ...] = (rush_outcome, hot_partition)
