"""Faults on the real cluster while bookings flow: a broker killed, consumer processes killed while others join
and leave, Redis killed. Afterwards the audit must be clean: nothing lost, nothing sold twice, counters exact.

`pytest -m faults` runs only these. Figures (stalls, redeliveries) go to artifacts/faults/.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from labkit import KafkaConsumerGroupBuilder, KafkaTopicBuilder, Lab, LocalCluster, Settings
from labkit.errors import DeliveryError
from labkit.experiments.audit import audit
from labkit.experiments.booking_summary import messages_per_partition
from labkit.experiments.load import BookingStream, wait_all
from labkit.kafka.clients import base_config
from labkit.kafka.groups import describe_group
from labkit.polling import wait_until
from labkit.services.consumer_processes import ConsumerProcess, ConsumerProcesses
from tests.helpers import assignments, lab_for_a_test

pytestmark = [pytest.mark.integration, pytest.mark.faults]

# KIP-848 (labkit's default) and the classic group protocol, side by side. `make test` runs the KIP-848 half (the
# classic half doubled the suite's ≈ 3 min); `pytest -m faults` or `-m classic` runs the classic one too.
PROTOCOLS = ("consumer", pytest.param("classic", marks=pytest.mark.classic))


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lab(settings: Settings, protocol: str) -> Iterator[Lab]:
    """The conftest's lab, its consumer groups on `protocol`."""
    with lab_for_a_test(replace(settings, group_protocol=protocol)) as lab:
        yield lab


ARTIFACTS = Path(__file__).parent.parent / "artifacts" / "faults"


def longest_gap_between_outcomes(bookings: pd.DataFrame) -> float:
    """Seconds of the longest time without a recorded outcome, counted from the first booking: the stall."""
    sent = bookings.requested_at.map(lambda t: t.timestamp())
    done = (sent + bookings.latency_ms / 1000).sort_values()
    return float(pd.concat([pd.Series([sent.min()]), done]).diff().max())


def latency_figures(bookings: pd.DataFrame) -> dict[str, float]:
    """p50 / p99 / max booking latency (s): the longest gap counts only a stop of *every* outcome, while the
    partitions of a dead member (or a dead leader) can wait alone; their bookings' latency shows it."""
    latency = bookings.latency_ms / 1000
    return {f"latency_{name}_s": round(float(latency.quantile(q)), 2) for name, q in (("p50", 0.5), ("p99", 0.99))} | {
        "latency_max_s": round(float(latency.max()), 2)
    }


def report(name: str, protocol: str, figures: dict[str, object]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    figures = {"group_protocol": protocol, **figures}
    (ARTIFACTS / f"{name}-{protocol}.json").write_text(json.dumps(figures, indent=2))
    print(name, figures)


@contextmanager
def healed(local: LocalCluster, stream: BookingStream) -> Iterator[None]:
    """Whatever happens in the block: stop the stream and bring every killed server back for the next tests."""
    try:
        yield
    finally:
        stream.stop()
        if not local.status().running:
            local.up(brokers=3)


def assert_all_answered(lab: Lab, event_id: int, booking_ids: list[str], timeout: float = 120) -> None:
    """Every accepted booking gets its outcome; if not, say where each pending one stopped (its request and
    reply in Kafka, the groups' committed offsets there), so that a rare loss can be traced from one run."""
    if wait_all(lab, event_id, booking_ids, timeout=timeout) == 0:
        return
    statuses = lab.store.statuses(event_id, booking_ids)
    pending = [b for b, status in zip(booking_ids, statuses, strict=True) if status not in ("RESERVED", "FAILED")]
    try:
        lab.flush(5)
        sender = "the sender has nothing unacknowledged"
    except DeliveryError as error:
        sender = f"the sender: {error}"
    traces = "; ".join(trace(lab, event_id, b) for b in pending[:3])
    pytest.fail(f"{len(pending)} booking(s) still PENDING ({sender}): {traces}\n{owners(lab, event_id, pending)}")


def trace(lab: Lab, event_id: int, booking_id: str) -> str:
    partition = int(lab.store.get(event_id, booking_id)["partition"])
    admin = lab.admin
    found = []
    for topic, group in (
        (KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id), "seat_reservation_service"),
        (KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id), "ticketing_service"),
        (KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(event_id), "ticketing_service"),
    ):
        messages, end = read_partition(lab.bootstrap_servers, topic, partition)
        offsets = [m.offset() for m in messages if booking_id.encode() in (m.value() or b"")]
        group_id = getattr(KafkaConsumerGroupBuilder, group)(event_id)
        committed = next(
            (
                p.committed
                for p in describe_group(admin, group_id).partitions
                if (p.topic, p.partition) == (topic, partition)
            ),
            None,
        )
        found.append(
            f"{topic.split('______')[1]}[{partition}] at {offsets or 'nowhere'} "
            f"(read {len(messages)} of {end}, committed {committed})"  # "nowhere" means something only if all were read
        )
    return f"{booking_id}: " + ", ".join(found)


def owners(lab: Lab, event_id: int, pending: list[str]) -> str:
    """Who owns the stuck partitions (the brokers' view and this Lab's threads), and what those threads are doing."""
    partitions = sorted({int(lab.store.get(event_id, b)["partition"]) for b in pending})
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    group = describe_group(lab.admin, KafkaConsumerGroupBuilder.seat_reservation_service(event_id))
    by_member = {m.member_id: m.client_id for m in group.members}
    brokers_view = {
        p.partition: by_member.get(p.member_id or "", p.member_id) for p in group.partitions if p.topic == topic
    }
    lines = [
        f"stuck partitions {partitions}; owners per the brokers: {[brokers_view.get(p) for p in partitions]}",
        f"the group per the brokers (owned against target): {group.reconciliation()}",
    ]
    owned = assignments(lab, "seat-reservation")
    threads = {thread.name: thread for thread in threading.enumerate()}  # a consumer thread is named by its client id
    for row in lab.consumers().itertuples():
        mine = sorted(p for t, p in owned.get(str(row.client_id), set()) if t == topic and p in partitions)
        if mine or row.service == "seat-reservation":
            lines.append(f"{row.client_id}: alive {row.alive}, processed {row.processed}, owns stuck {mine}")
            thread = threads.get(str(row.client_id))
            frame = sys._current_frames().get(thread.ident or -1) if thread is not None else None
            if mine and frame is not None:
                lines.append("".join(traceback.format_stack(frame)[-6:]))
    lines.append(lab.rebalances().query("service == 'seat-reservation'").to_string(max_colwidth=60))
    return "\n".join(lines)


def read_partition(bootstrap: str, topic: str, partition: int) -> tuple[list[Message], int]:
    """The partition's messages as read within 30 s, and its log-end offset."""
    consumer = Consumer(base_config(bootstrap, "test-trace", group_id="test-trace", enable_auto_commit=False))
    end = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    consumer.assign([TopicPartition(topic, partition, 0)])
    messages: list[Message] = []
    deadline = time.monotonic() + 30
    try:
        while (not messages or (messages[-1].offset() or 0) < end - 1) and end > 0 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
    finally:
        consumer.close()
    return messages, end


def assert_clean(lab: Lab, event_id: int, accepted: list[str]) -> None:
    result = audit(lab, event_id)
    assert result.ok, result.problems()
    assert result.bookings == len(accepted)


def test_a_broker_killed_mid_stream_loses_nothing_and_rejoins_every_isr(
    lab: Lab, event_id: int, cluster_home: Path, protocol: str
) -> None:
    lab.setup_event(event_id)  # the default venue: 100 partitions per topic, replication 3
    lab.start_consumers(ticketing=4, seat_reservation=4, event_id=event_id)
    lab.wait_for_consumers(120)
    local = LocalCluster(cluster_home)
    leaders = lab.partitions(event_id).leader.value_counts()
    victim = int(leaders.idxmax())
    stream = BookingStream(lab, event_id, count=5000, rate=200, seed=1).start()
    with healed(local, stream):
        wait_until(lambda: stream.sent >= 1500, 120, "1,500 bookings sent")
        local.kill_broker(victim)
        wait_until(lambda: stream.sent >= 3000, 120, "3,000 bookings sent with a broker down")
        local.up(brokers=3)  # restarts the killed broker from its data
        stream.join(180)
    assert_all_answered(lab, event_id, stream.booking_ids)
    assert_clean(lab, event_id, stream.booking_ids)

    def back_in_every_isr() -> bool:
        partitions = lab.partitions(event_id)
        return bool(partitions.isr.map(lambda isr: victim in isr).all())

    wait_until(back_in_every_isr, 120, f"broker {victim} back in every ISR")
    bookings = lab.bookings(event_id)
    stall = longest_gap_between_outcomes(bookings)
    report(
        "broker_loss",
        protocol,
        {
            "bookings": 5000,
            "victim": victim,
            "partitions_it_led": int(leaders.max()),
            "longest_gap_between_outcomes_s": round(stall, 2),
            **latency_figures(bookings),
            "send_errors": len(stream.errors),
        },
    )


def test_consumer_processes_killed_while_others_join_and_leave(
    lab: Lab, settings: Settings, event_id: int, tmp_path: Path, protocol: str
) -> None:
    lab.setup_event(event_id)
    processes = ConsumerProcesses(
        replace(settings, event_id=event_id, home=tmp_path, group_protocol=protocol), stop_with_owner=True
    )
    processes.start(ticketing=2, seat_reservation=2)
    try:
        processes.wait_for_members(2, 2)
        stream = BookingStream(lab, event_id, count=3000, rate=150, seed=2).start()

        def by_service(service: str) -> list[ConsumerProcess]:
            return [p for p in processes.list() if p.service == service and p.alive]

        wait_until(lambda: stream.sent >= 600, 120, "600 bookings sent")
        processes.kill(by_service("seat-reservation")[0])  # mid-batch, most likely
        processes.kill(by_service("ticketing")[0])
        processes.start(ticketing=1, seat_reservation=2)  # newcomers join while the dead are still members
        wait_until(lambda: stream.sent >= 1500, 120, "1,500 bookings sent")
        os.kill(by_service("seat-reservation")[0].pid or 0, signal.SIGTERM)  # one leaves cleanly
        processes.start(ticketing=1, seat_reservation=0)
        stream.join(120)
        assert_all_answered(lab, event_id, stream.booking_ids)
    finally:
        processes.stop()
    assert_clean(lab, event_id, stream.booking_ids)
    replies = sum(
        int(messages_per_partition(lab.bootstrap_servers, topic, 100).messages.sum())
        for topic in (
            KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id),
            KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(event_id),
        )
    )
    bookings = lab.bookings(event_id)
    stall = longest_gap_between_outcomes(bookings)
    report(
        "consumer_crashes",
        protocol,
        {
            "bookings": 3000,
            "replies_written": replies,
            "redelivered_replies": replies - 3000,
            "longest_gap_between_outcomes_s": round(stall, 2),
            **latency_figures(bookings),
        },
    )


@pytest.mark.parametrize("protocol", ["consumer"])  # Redis faults do not touch the groups
def test_redis_killed_mid_stream_keeps_every_seat(lab: Lab, event_id: int, cluster_home: Path, protocol: str) -> None:
    lab.setup_event(event_id)
    lab.start_consumers(ticketing=2, seat_reservation=2, event_id=event_id)
    lab.wait_for_consumers(120)
    local = LocalCluster(cluster_home)
    stream = BookingStream(lab, event_id, count=1500, rate=150, seed=3).start()
    with healed(local, stream):
        wait_until(lambda: stream.sent >= 500, 120, "500 bookings sent")
        seats_before = lab.inventory.counters(event_id)["reserved"]
        local.kill_redis()  # SIGKILL: only the append-only file (written before every reply) survives
        local.up(brokers=3)
        assert lab.inventory.counters(event_id)["reserved"] >= seats_before  # nothing acknowledged was lost
        stream.join(180)
    assert_all_answered(lab, event_id, stream.booking_ids)
    result = audit(lab, event_id)
    # A booking whose PENDING write reached Redis just before the kill, but whose reply did not, was never
    # accepted (book() raised, nothing was sent): it may stay PENDING. Accepted bookings never do.
    assert not set(result.pending) & set(stream.booking_ids)
    assert len(result.pending) <= len(stream.errors)
    assert not (
        result.seats_sold_twice
        or result.sold_seats_not_held
        or result.held_seats_of_no_sale
        or result.counter_mismatches
    ), result.problems()
    stall = longest_gap_between_outcomes(lab.bookings(event_id).query("status != 'PENDING'"))
    report(
        "redis_restart",
        protocol,
        {
            "bookings": 1500,
            "send_errors_retried": len(stream.errors),
            "longest_gap_between_outcomes_s": round(stall, 2),
        },
    )


def moved_since(lab: Lab, client_id: str, since: float, kind: str) -> set[tuple[str, int]]:
    rows = lab.rebalances().query("client_id == @client_id and kind == @kind")
    return {
        p
        for at, partitions in zip(rows["at"], rows["partitions"], strict=True)
        if at.timestamp() >= since
        for p in partitions
    }


def test_a_member_joining_or_leaving_moves_only_what_must_move(lab: Lab, event_id: int, protocol: str) -> None:
    """A graceful join and leave during a steady stream: the members that stay give up only what the newcomer
    takes and keep the rest (never revoked, so never paused); the stall of the partitions that moved is reported."""
    lab.setup_event(event_id)
    lab.start_consumers(ticketing=2, seat_reservation=2, event_id=event_id)
    lab.wait_for_consumers(120)
    stayers = assignments(lab, "seat-reservation")
    stream = BookingStream(lab, event_id, count=1500, rate=60, seed=4).start()
    with healed(LocalCluster(lab.settings.home), stream):
        wait_until(lambda: stream.sent >= 300, 120, "300 bookings sent")
        assert stream.sending  # 1,200 to go at 60/s
        joined_at = time.time()
        lab.start_consumers(ticketing=0, seat_reservation=1, event_id=event_id)
        lab.wait_for_consumers(60)
        after_join = assignments(lab, "seat-reservation")
        (newcomer,) = set(after_join) - set(stayers)
        join_changes = lab.rebalances()  # the newcomer's rows go when it is removed
        wait_until(lambda: stream.sent >= 800, 120, "800 bookings sent")
        left_at = time.time()
        assert lab.remove_consumer("seat-reservation") == newcomer
        lab.wait_for_consumers(60)
        after_leave = assignments(lab, "seat-reservation")
        stream.join(120)
        assert not stream.sending
    assert_all_answered(lab, event_id, stream.booking_ids)
    assert_clean(lab, event_id, stream.booking_ids)

    handed_over: set[tuple[str, int]] = set()
    for client, before in stayers.items():
        revoked = moved_since(lab, client, joined_at, "revoked")
        assert revoked == before - after_join[client], f"{client} gave up partitions it kept"
        assert not moved_since(lab, client, joined_at, "lost")
        assert not moved_since(lab, client, left_at, "revoked"), f"{client} lost partitions when a member left"
        handed_over |= revoked
    assert handed_over == after_join[newcomer]  # exactly its share, and nothing else moved
    assert set().union(*after_leave.values()) == set().union(*stayers.values())  # all back with the two

    # A moved partition has no owner from its revocation until the new owner is given it: its pause.
    def handover_s(changes: pd.DataFrame, since: float) -> float:
        changes = changes[changes["at"].map(lambda t: t.timestamp() >= since)]
        revoked: dict[tuple[str, int], float] = {}
        pauses = []
        for at, kind, partitions in zip(changes["at"], changes["kind"], changes["partitions"], strict=True):
            for partition in partitions:
                if kind == "revoked":
                    revoked[partition] = at.timestamp()
                elif kind == "assigned":
                    pauses.append(at.timestamp() - revoked.get(partition, since))
        return round(max(pauses), 2)

    bookings = lab.bookings(event_id)
    window = bookings[bookings.requested_at.map(lambda t: joined_at - 1 <= t.timestamp() <= left_at + 10)]
    report(
        "member_join_leave",
        lab.settings.group_protocol,
        {
            "partitions_moved": len(handed_over),
            "join_longest_handover_s": handover_s(join_changes, joined_at),
            "leave_longest_handover_s": handover_s(lab.rebalances(), left_at),  # from the stop request
            "latency_p50_ms": round(float(window.latency_ms.median()), 1),
            "latency_max_ms": round(float(window.latency_ms.max()), 1),
        },
    )
