"""A no-lost-booking check under faults: Jepsen's idea, on the ticketing flow.

A stream of bookings runs through a ticketing service of its own, whose producer's `acks` the check chooses,
while a schedule of faults (`labkit.experiments.chaos`) plays out on labkit's own cluster. Each booking's fate
on the client's side is kept: told accepted (its reserve-seats request acknowledged), told refused (a delivery
error), or never told. Once the cluster is healed, the check reads what Kafka holds (the requests, the replies)
and what Redis recorded, and gives its verdict:

- lost: told accepted, yet never answered and no longer in the reserve-seats topic. With acks=1 a leader cut off
  from its peers goes on acknowledging writes its successors never get; when it comes back it truncates them.
- unanswered: told accepted and in the topic, but never answered (a stuck consumer: labkit's defect, not Kafka's);
- answered differently: two replies for one booking with different outcomes or seats;
- the audit's invariants: no seat sold twice, the inventory and counters equal to the bookings.

With acks=all and min.insync.replicas=2 (labkit's settings) none of these may happen.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message

from labkit.domain.messages import ReserveSeats, decode
from labkit.domain.naming import KafkaTopicBuilder
from labkit.errors import ConfigError, DeliveryError
from labkit.experiments.audit import audit
from labkit.experiments.chaos import Fault
from labkit.experiments.load import BookingStream, wait_all
from labkit.experiments.reading import read_topic
from labkit.experiments.replay import read_replies
from labkit.kafka.producer import ReliableProducer
from labkit.lab import Lab
from labkit.services.ticketing import TicketingService

ACKS = ("all", "1")


@dataclass(frozen=True)
class Step:
    """One fault of a schedule: at `at` s after the stream starts, `Chaos.<action>(*args, duration=...)`; the
    fault undoes itself after `duration` s (a kill by a restart)."""

    at: float
    action: str  # kill, pause, isolate, cut: a Chaos method that takes a duration
    args: tuple[Any, ...]
    duration: float

    def __str__(self) -> str:
        return f"at {self.at:g} s: {' '.join([self.action, *map(str, self.args)])} for {self.duration:g} s"


def full_schedule(isolated: int = 1, killed: int = 2, paused: int = 3) -> list[Step]:
    """Every fault labkit can make, one after another: a partial partition (clients still reach the broker), a
    kill, a pause, a full isolation, one cut link. The last heals at 58 s."""
    return [
        Step(3, "isolate", (isolated, "peers"), 8),
        Step(14, "kill", (killed,), 6),
        Step(30, "pause", (paused,), 5),
        Step(38, "isolate", (isolated, "everyone"), 8),
        Step(50, "cut", (killed, paused), 8),
    ]


@dataclass
class Verdict:
    """What the history shows; `ok` when nothing told accepted was lost, left unanswered or answered twice
    differently, and the seats add up."""

    acks: str
    sent: int
    acknowledged: int
    refused: int
    never_told: int
    answered: int
    lost: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    answered_differently: list[str] = field(default_factory=list)
    seat_problems: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unanswered or self.answered_differently or self.seat_problems)

    def __str__(self) -> str:
        lines = [
            f"acks={self.acks}: {self.sent} bookings sent, {self.acknowledged} told accepted, {self.refused} told "
            f"refused, {self.never_told} never told; {self.answered} of the accepted answered",
            f"lost (accepted, gone from Kafka, never answered): {len(self.lost)}",
            f"unanswered (accepted, in Kafka, never answered): {len(self.unanswered)}",
            f"answered twice differently: {len(self.answered_differently)}",
            f"seats: {'; '.join(self.seat_problems) or 'none sold twice, inventory and counters exact'}",
            "verdict: " + ("nothing lost" if self.ok else "NOT SAFE"),
        ]
        return "\n".join(lines)


class History:
    """Each booking's fate on the client's side, from its producer's delivery reports (a thread of its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.acknowledged: set[str] = set()
        self.refused: dict[str, str] = {}

    def delivered(self, error: KafkaError | None, message: Message) -> None:
        booking_id = decode(message.value(), ReserveSeats).booking_id
        with self._lock:
            if error is None:
                self.acknowledged.add(booking_id)
            else:
                self.refused[booking_id] = str(error)


def producer_settings(acks: str) -> dict[str, Any]:
    """acks=all is labkit's (idempotent); acks=1 cannot be idempotent (Kafka requires all for that)."""
    if acks not in ACKS:
        raise ConfigError(f"acks must be one of {', '.join(ACKS)}, got {acks!r}")
    return {"acks": acks, "enable.idempotence": acks == "all"}


def run_check(
    lab: Lab,
    event_id: int,
    schedule: Sequence[Step],
    acks: str = "all",
    rate: float = 50.0,
    duration: float | None = None,
    answer_timeout: float = 120.0,
) -> Verdict:
    """Book at `rate`/s for `duration` s (the schedule's last step + 3 s by default) while the schedule plays,
    heal everything, wait up to `answer_timeout` s for every accepted booking's outcome, then judge."""
    settings = producer_settings(acks)
    lab.chaos.cluster.namespaced_state()  # refuses a cluster on 127.0.0.1 before anything is set going
    duration = duration if duration is not None else max((s.at + s.duration for s in schedule), default=0.0) + 3.0
    history = History()
    runtime = lab.runtime
    producer = ReliableProducer(
        runtime.bootstrap_servers, f"fault-check-acks-{acks}", on_delivery=history.delivered, **settings
    )
    producer.serve_reports_in_background()
    ticketing = TicketingService(runtime.store, producer, runtime.board, runtime.admin, runtime.inventory)
    faults: list[Fault] = []
    try:
        stream = BookingStream(lab, event_id, count=max(1, int(rate * duration)), rate=rate, book=ticketing.book)
        try:
            stream.start()
            faults += play(lab, schedule, time.monotonic())
            stream.join(duration + 120)
        finally:
            stream.stop()
            faults += lab.chaos.heal()
        with contextlib.suppress(DeliveryError):  # each refusal is in the history
            producer.confirm(60)  # the last acknowledgements (or refusals) come in
    finally:
        ticketing.close()
    in_kafka = requests_in_kafka(lab, event_id)
    # what the topic no longer holds will never be answered: wait only for the rest
    wait_all(lab, event_id, sorted(history.acknowledged & in_kafka), answer_timeout)
    return judge(lab, event_id, acks, stream.booking_ids, history, in_kafka, faults)


def requests_in_kafka(lab: Lab, event_id: int) -> set[str]:
    """The booking ids of every reserve-seats request the topic holds (what consumers can read: up to each
    partition's high watermark)."""
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    return {decode(record.value, ReserveSeats).booking_id for record in read_topic(lab.bootstrap_servers, topic)}


def play(lab: Lab, schedule: Sequence[Step], started: float) -> list[Fault]:
    """Each step at its time (a schedule, not a synchronisation: the faults' times are the experiment), then
    wait until the last has undone itself. Returns the faults and their undoings, in order."""
    since = time.time()
    pacing = threading.Event()
    for step in sorted(schedule, key=lambda s: s.at):
        pacing.wait(max(0.0, started + step.at - time.monotonic()))
        getattr(lab.chaos, step.action)(*step.args, duration=step.duration)
    lab.chaos.wait()
    return [fault for fault in lab.chaos.history(100) if fault.at >= since]


def judge(
    lab: Lab, event_id: int, acks: str, sent: list[str], history: History, in_kafka: set[str], faults: list[Fault]
) -> Verdict:
    """Compare the client's history with the reserve-seats requests in Kafka, the reply topics and Redis."""
    replies = read_replies(lab.bootstrap_servers, event_id)
    answers: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
    for booking_id, status, seats in zip(replies.booking_id, replies.status, replies.seats, strict=True):
        answers.setdefault(booking_id, set()).add((status, tuple(seats)))
    differently = sorted(b for b, distinct in answers.items() if len(distinct) > 1)
    accepted = sorted(history.acknowledged)
    statuses = dict(zip(accepted, lab.runtime.store.statuses(event_id, accepted), strict=True))
    unanswered_ids = [b for b, status in statuses.items() if status not in ("RESERVED", "FAILED")]
    report = audit(lab, event_id)
    seat_problems = [
        f"{name} ({len(values)}): {values[:3]}"
        for name in ("seats_sold_twice", "sold_seats_not_held", "held_seats_of_no_sale", "counter_mismatches")
        if (values := getattr(report, name))
    ]
    return Verdict(
        acks=acks,
        sent=len(sent),
        acknowledged=len(accepted),
        refused=len(history.refused),
        never_told=len(sent) - len(accepted) - len(history.refused),
        answered=len(accepted) - len(unanswered_ids),
        lost=[b for b in unanswered_ids if b not in in_kafka],
        unanswered=[b for b in unanswered_ids if b in in_kafka],
        answered_differently=differently,
        seat_problems=seat_problems,
        faults=faults,
    )
