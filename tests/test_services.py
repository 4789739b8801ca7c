"""The two services end to end on the real cluster: correctness under contention, redelivery, crashes, garbage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from confluent_kafka import Producer

from labkit import KafkaConsumerGroupBuilder, KafkaTopicBuilder, Lab, Settings
from labkit.domain.messages import DeadLetter, ReserveSeats, encode, now_ms
from labkit.experiments.audit import audit
from labkit.experiments.load import wait_all
from labkit.kafka.clients import base_config
from labkit.polling import wait_until
from tests.helpers import SMALL_VENUE, assignments, read_all

pytestmark = pytest.mark.integration


def assert_invariants(lab: Lab, event_id: int) -> None:
    """Every booking terminal; no seat in two bookings; seat states, owners and counters agree."""
    report = audit(lab, event_id)
    assert report.ok, report.problems()


def test_book_and_wait_best_available_and_manual(lab: Lab, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=2, seat_reservation=2, event_id=event_id)
    b = lab.book(event_id=event_id, section="A", subsection=1, quantity=2).wait(timeout=30)
    assert (b.status, b.seats, b.total_price) == ("RESERVED", ["A-1-1-1", "A-1-1-2"], 400)
    m = lab.book(event_id=event_id, section="A", subsection=1, seats=["A-1-1-2", "A-1-1-3"]).wait(timeout=30)
    assert (m.status, m.reason, m.seats) == ("FAILED", "SEAT_TAKEN", [])
    ok = lab.book(event_id=event_id, section="B", subsection=2, seats=["B-2-4-5"]).wait(timeout=30)
    assert (ok.status, ok.seats) == ("RESERVED", ["B-2-4-5"])
    frame = lab.bookings(event_id)
    assert list(frame.columns[:8]) == [
        "booking_id",
        "section",
        "subsection",
        "partition",
        "status",
        "seats",
        "reason",
        "latency_ms",
    ]
    assert frame.set_index("booking_id").loc[ok.booking_id, "partition"] == 3
    assert (frame.latency_ms > 0).all()
    assert_invariants(lab, event_id)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"section": "K", "subsection": 1, "quantity": 1}, "section must be one of A-B"),
        ({"section": "A", "subsection": 3, "quantity": 1}, "subsection must be an integer from 1 to 2"),
        ({"section": "A", "subsection": 1, "quantity": 5}, "quantity must be an integer from 1 to 4"),
        ({"section": "A", "subsection": 1, "quantity": 0}, "quantity must be an integer from 1 to 4"),
        ({"section": "A", "subsection": 1, "seats": ["B-1-1-1"]}, "not in subsection A-1"),
        ({"section": "A", "subsection": 1, "seats": ["A-1-9-1"]}, "row in seat id"),
        ({"section": "A", "subsection": 1, "seats": ["A-1-1-1", "A-1-1-1"]}, "distinct"),
        ({"section": "A", "subsection": 1}, "either quantity"),
    ],
)
def test_invalid_bookings_are_refused_before_anything_is_sent(
    lab: Lab, event_id: int, kwargs: dict, message: str
) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    with pytest.raises(ValueError, match=message):
        lab.book(event_id=event_id, **kwargs)
    assert lab.bookings(event_id).empty


def test_an_oversubscribed_subsection_sells_each_seat_once(lab: Lab, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=2, seat_reservation=2, event_id=event_id)
    with ThreadPoolExecutor(max_workers=8) as pool:
        bookings = list(
            pool.map(lambda i: lab.book(event_id=event_id, section="A", subsection=1, quantity=1 + i % 2), range(200))
        )
    assert wait_all(lab, event_id, [b.booking_id for b in bookings], timeout=60) == 0
    assert_invariants(lab, event_id)
    frame = lab.bookings(event_id)
    assert frame[frame.status == "RESERVED"].seats.map(len).sum() == SMALL_VENUE.seats_per_subsection == 20
    assert set(frame[frame.status == "FAILED"].reason) <= {"SOLD_OUT", "NOT_ENOUGH_SEATS"}
    assert lab.inventory.counters(event_id, "A-1") == {"available": 0, "reserved": 20}


def test_the_same_request_delivered_twice_reserves_once_and_answers_the_same(
    lab: Lab, settings: Settings, event_id: int
) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    request = ReserveSeats(str(uuid.uuid4()), event_id, "dup", "B", 1, "best_available", 3, requested_at=now_ms())
    lab.store.add_pending([(request, 2)])
    producer = Producer(base_config(settings.kafka_bootstrap_servers or "", "test-duplicate"))
    for _ in range(2):  # what a producer retry or a consumer crash before its commit produces
        producer.produce(
            KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id), encode(request), partition=2
        )
    assert producer.flush(30) == 0
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    replies = read_all(settings, KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id), 2)
    assert replies[0] == replies[1]
    assert lab.inventory.counters(event_id, "B-1") == {"available": 17, "reserved": 3}
    assert wait_all(lab, event_id, [request.booking_id], timeout=30) == 0
    assert lab.store.stats(event_id) == {"sent": 1, "RESERVED": 1}
    assert_invariants(lab, event_id)


def test_garbage_is_dead_lettered_and_the_service_keeps_serving(lab: Lab, settings: Settings, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    producer = Producer(base_config(settings.kafka_bootstrap_servers or "", "test-garbage"))
    producer.produce(topic, b"\x00\x01 not json", key=b"junk", partition=0)
    assert producer.flush(30) == 0
    after = lab.book(event_id=event_id, section="A", subsection=1, quantity=1).wait(timeout=30)
    assert after.status == "RESERVED"
    (parked,) = read_all(settings, KafkaTopicBuilder.dead_letter__services_to_operator(event_id), 1)
    assert isinstance(parked, DeadLetter)
    assert parked.reason.startswith("not JSON") and parked.service == "seat-reservation-service"
    assert (parked.topic, parked.partition, parked.key) == (topic, 0, "junk")
    assert parked.original_value == b"\x00\x01 not json"
    assert all(lab.consumers().alive)


def test_a_consumer_process_killed_mid_stream_loses_and_doubles_nothing(
    lab: Lab, settings: Settings, event_id: int, tmp_path: Path
) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=0, event_id=event_id)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "REDIS_URL": settings.redis_url or "",
        "EVENT_ID": str(event_id),
    }

    def start_process(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "labkit.cli", "consumers", "run", "seat-reservation"],
            env=env,
            stdout=open(tmp_path / f"{name}.log", "wb"),
            stderr=subprocess.STDOUT,
        )

    def burst(offset: int) -> list[str]:
        return [
            lab.book(event_id=event_id, section="AB"[i % 2], subsection=1 + i // 2 % 2, quantity=1 + i % 3).booking_id
            for i in range(offset, offset + 60)
        ]

    first = start_process("first")
    try:
        bookings = burst(0)
        wait_until(lambda: lab.store.stats(event_id).get("RESERVED", 0) >= 10, 60, "the first outcomes")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        bookings += burst(60)  # sent while no seat-reservation consumer runs: only the restarted one can serve them
        second = start_process("second")
        try:
            assert wait_all(lab, event_id, bookings, timeout=90) == 0
        finally:
            second.send_signal(signal.SIGTERM)  # it has served messages, so its SIGTERM handler is in place
            assert second.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert_invariants(lab, event_id)
    assert lab.store.stats(event_id)["sent"] == 120


def test_groups_use_the_consumer_protocol_and_ticketing_splits_both_reply_topics_alike(lab: Lab, event_id: int) -> None:
    """KIP-848 by default; the ticketing group's server-side `range` assignor gives each member the same partition
    numbers of both reply topics (an even share of each), as the classic `range` did."""
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=2, seat_reservation=2, event_id=event_id)
    lab.wait_for_consumers(120)
    groups = lab.groups(event_id)
    assert set(groups.protocol) == {"consumer"}
    owned = assignments(lab, "ticketing")
    reserved = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    failed = KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(event_id)
    shares = [
        ({p for t, p in partitions if t == reserved}, {p for t, p in partitions if t == failed})
        for partitions in owned.values()
    ]
    assert len(shares) == 2
    for of_reserved, of_failed in shares:
        assert of_reserved == of_failed and len(of_reserved) == 2  # SMALL_VENUE: 4 partitions per topic


def test_a_booking_nobody_consumes_says_so_when_its_wait_times_out_and_is_answered_once_consumers_run(
    lab: Lab, event_id: int
) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    booking = lab.book(event_id=event_id, section="A", subsection=1, quantity=1)  # sent: Kafka keeps the request
    with pytest.raises(TimeoutError, match=r"still PENDING after 1 s; no consumer is running in event-id-"):
        booking.wait(timeout=1)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    assert booking.wait(timeout=30).status == "RESERVED"


def test_paused_consumers_stay_in_their_group_and_fetch_nothing_until_resumed(lab: Lab, event_id: int) -> None:
    """Kafka's pause: the members keep their partitions (no rebalance) while requests wait in the log as lag."""
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=2, event_id=event_id)
    lab.wait_for_consumers(120)
    lab.pause_consumers("seat-reservation")
    settled_changes = len(lab.rebalances())
    bookings = lab.book_many([{"section": "A", "subsection": 1, "quantity": 1}] * 20, event_id=event_id)
    lab.flush()
    wait_until(lambda: lab.reservation_lag(event_id).lag.sum() == 20, 30, "the 20 requests counted as lag")
    # An observation window, not a synchronisation: 2 s in which nothing may be answered.
    assert wait_all(lab, event_id, [b.booking_id for b in bookings], timeout=2) == 20
    assert lab.consumers().query("service == 'seat-reservation'").processed.sum() == 0
    assert lab.group_members(event_id)[KafkaConsumerGroupBuilder.seat_reservation_service(event_id)] == 2
    # the stall detector names what a paused member holds: lag whose committed offset does not move
    group = KafkaConsumerGroupBuilder.seat_reservation_service(event_id)
    watched = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "groups", "stalls", group, "--seconds", "4", "--after", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": lab.bootstrap_servers, "REDIS_URL": lab.redis_url},
        timeout=60,
    )
    assert watched.returncode == 1, watched.stderr
    assert "lag 20, owned by" in watched.stdout and "committed offset still for" in watched.stdout
    assert f"{group}: 1 partition(s) stalled" in watched.stdout
    lab.resume_consumers("seat-reservation")
    assert wait_all(lab, event_id, [b.booking_id for b in bookings], timeout=60) == 0
    assert len(lab.rebalances()) == settled_changes, "pausing and resuming moved no partition"
    assert_invariants(lab, event_id)
