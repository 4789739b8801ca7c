"""ReliableProducer's recovery from a fatal (idempotence) error: pure logic against a fake librdkafka producer.
(Real brokers exercise it in test_faults.py when a killed leader leaves a producer out of sequence.)"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException

from labkit.kafka import producer as producer_module
from labkit.kafka.producer import ReliableProducer
from labkit.polling import wait_until

pytestmark = pytest.mark.unit


class FakeProducer:
    """Acknowledges on poll/flush; `fail_next` makes the next produce() fail fatally, as librdkafka does."""

    instances: ClassVar[list[FakeProducer]] = []
    fail_next = False

    def __init__(self, config: dict[str, Any]) -> None:
        self.queued: list[tuple[str, bytes, Any]] = []
        self.delivered: list[bytes] = []
        FakeProducer.instances.append(self)

    def produce(self, topic: str, value: bytes, key: Any = None, on_delivery: Any = None, **_: Any) -> None:
        if FakeProducer.fail_next:
            FakeProducer.fail_next = False
            raise KafkaException(KafkaError(KafkaError._FATAL, "fatal", fatal=True))
        self.queued.append((topic, value, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        for topic, value, callback in self.queued:
            self.delivered.append(value)
            callback(None, FakeMessage(topic))
        self.queued.clear()
        return 0


class FakeMessage:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    FakeProducer.instances, FakeProducer.fail_next = [], False
    monkeypatch.setattr(producer_module, "Producer", FakeProducer)
    return FakeProducer


def test_a_fatal_error_starts_a_new_producer_and_resends_what_was_unacknowledged(fake: type[FakeProducer]) -> None:
    producer = ReliableProducer("127.0.0.1:1", "test")
    producer.send("t", b"one")
    producer.send("t", b"two")
    fake.fail_next = True
    producer.send("t", b"three")  # the first producer is dead now
    producer.confirm()
    assert producer.restarts == 1 and len(fake.instances) == 2
    assert sorted(fake.instances[1].delivered) == [b"one", b"three", b"two"]  # nothing lost
    assert fake.instances[0].delivered == []


def test_a_fatal_delivery_report_keeps_the_message_for_the_next_producer(fake: type[FakeProducer]) -> None:
    producer = ReliableProducer("127.0.0.1:1", "test")
    producer.send("t", b"one")
    first = fake.instances[0]
    ((_, _, callback),) = first.queued
    first.queued.clear()
    callback(KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "out of order", fatal=True), FakeMessage("t"))
    producer.confirm()
    assert producer.restarts == 1
    assert fake.instances[1].delivered == [b"one"]


def test_a_non_fatal_delivery_failure_fails_the_confirmation(fake: type[FakeProducer]) -> None:
    producer = ReliableProducer("127.0.0.1:1", "test")
    producer.send("t", b"one")
    ((_, _, callback),) = fake.instances[0].queued
    fake.instances[0].queued.clear()
    callback(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"), FakeMessage("t"))
    with pytest.raises(producer_module.DeliveryError, match="timed out"):
        producer.confirm()
    assert producer.restarts == 0


def test_a_mark_is_acknowledged_once_everything_sent_before_it_is(fake: type[FakeProducer]) -> None:
    producer = ReliableProducer("127.0.0.1:1", "test")
    producer.send("t", b"one")
    first_batch = producer.mark()
    producer.send("t", b"two")
    second_batch = producer.mark()
    queued = fake.instances[0].queued
    assert not producer.acknowledged(first_batch)  # nothing delivered yet
    _, _, callback = queued.pop(0)
    callback(None, FakeMessage("t"))  # "one" acknowledged
    assert producer.acknowledged(first_batch)
    assert not producer.acknowledged(second_batch)  # "two" still in flight
    _, _, callback = queued.pop(0)
    callback(None, FakeMessage("t"))
    assert producer.acknowledged(second_batch)


def test_a_failed_delivery_surfaces_at_the_next_acknowledgement_check(fake: type[FakeProducer]) -> None:
    producer = ReliableProducer("127.0.0.1:1", "test")
    producer.send("t", b"one")
    mark = producer.mark()
    _, _, callback = fake.instances[0].queued.pop(0)
    callback(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"), FakeMessage("t"))
    with pytest.raises(producer_module.DeliveryError, match="timed out"):
        producer.acknowledged(mark)
    assert producer.acknowledged(mark)  # reported once: the caller has handled its batches again


def test_lanes_spread_partitions_and_a_fatal_error_restarts_every_lane(fake: type[FakeProducer]) -> None:
    producer = ReliableProducer("127.0.0.1:1", "test", lanes=4)
    for partition in range(8):
        producer.send("t", f"p{partition}".encode(), partition=partition)
    lanes = fake.instances[:4]
    assert [[value for _, value, _ in lane.queued] for lane in lanes] == [
        [b"p0", b"p4"],
        [b"p1", b"p5"],
        [b"p2", b"p6"],
        [b"p3", b"p7"],
    ]
    fake.fail_next = True
    producer.send("t", b"p8", partition=8)  # lane 0 fails fatally: every lane is replaced, nothing is lost
    producer.confirm()
    assert producer.restarts == 1 and len(fake.instances) == 8
    assert sorted(v for lane in fake.instances[4:] for v in lane.delivered) == sorted(
        f"p{i}".encode() for i in range(9)
    )


@pytest.mark.parametrize("lanes", [0, 33, True, 1.5])
def test_lanes_outside_1_to_32_are_refused(lanes: object) -> None:
    with pytest.raises(ValueError, match="lanes must be an integer from 1 to 32"):
        ReliableProducer("127.0.0.1:1", "test", lanes=lanes)  # type: ignore[arg-type]


def test_a_fatal_report_after_the_last_send_is_recovered_by_the_background_reporter(fake: type[FakeProducer]) -> None:
    """The producer behind Lab.book is polled by no loop: a fatal error reported after its last send must still
    lead to a new producer that resends what was in flight."""
    producer = ReliableProducer("127.0.0.1:1", "test")
    producer.send("t", b"last")
    ((_, _, callback),) = fake.instances[0].queued
    fake.instances[0].queued.clear()
    callback(KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "out of order", fatal=True), FakeMessage("t"))
    producer.serve_reports_in_background(interval=0.01)
    try:
        wait_until(lambda: producer.restarts == 1, 10, "the background reporter's restart")
        assert [value for _, value, _ in fake.instances[1].queued] == [b"last"]
    finally:
        producer.close(timeout=1)


def test_connection_errors_of_an_unreachable_broker_go_to_logging_not_stderr() -> None:
    """A script whose broker is down (on purpose, in a fault experiment) is not flooded with librdkafka's
    'Connect to … failed' lines; a script that configures logging sees them."""
    script = (
        "import logging, sys\n"
        "from labkit.kafka.producer import ReliableProducer\n"
        "if sys.argv[1] == 'logging':\n"
        "    logging.basicConfig(stream=sys.stdout)\n"
        "producer = ReliableProducer('127.0.0.1:1', 'probe')\n"
        "producer.send('t', b'x')\n"
        "assert not producer.acknowledged(producer.mark(), timeout=3)  # serves its reports and logs for 3 s\n"
    )
    quiet = subprocess.run([sys.executable, "-c", script, "quiet"], capture_output=True, text=True, timeout=60)
    told = subprocess.run([sys.executable, "-c", script, "logging"], capture_output=True, text=True, timeout=60)
    assert "Connection refused" not in quiet.stderr + quiet.stdout
    assert "Connection refused" in told.stdout
