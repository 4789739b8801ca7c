"""BatchWorker on the real cluster: a batch whose output is not acknowledged is handled again, never committed."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import NewTopic

from labkit.kafka.admin import Admin
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.worker import BatchWorker
from labkit.polling import poll, wait_until
from labkit.settings import Settings, Tuning

pytestmark = pytest.mark.integration


def test_a_batch_whose_output_fails_is_handled_again_and_only_then_committed(settings: Settings, admin: Admin) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    tag = uuid.uuid4().hex[:8]
    source, sink, group = f"test-worker-{tag}-in", f"test-worker-{tag}-out", f"test-worker-{tag}"
    for future in admin.client.create_topics([NewTopic(source, 1, 3), NewTopic(sink, 1, 3)]).values():
        future.result(60)
    # The first batch's output goes to a topic that does not exist: its delivery fails after 2 s.
    short_timeout: dict[str, Any] = {"message.timeout.ms": 2_000}
    output = ReliableProducer(bootstrap, f"{tag}-out", **short_timeout)
    handled: list[list[bytes]] = []

    def forward(batch):  # type: ignore[no-untyped-def]
        handled.append([m.value() for m in batch])
        target = f"test-worker-{tag}-missing" if len(handled) == 1 else sink
        for m in batch:
            output.send(target, m.value())

    worker = BatchWorker(bootstrap, group, [source], f"{tag}-worker", forward, output)
    worker.start()
    try:
        feeder = ReliableProducer(bootstrap, f"{tag}-feeder")
        values = [f"m{i}".encode() for i in range(20)]
        for value in values:
            feeder.send(source, value)
        feeder.confirm()
        feeder.close()
        committed = poll(lambda: _committed(admin, group, source) == len(values), 60, interval=0.2)
        assert committed, f"{_committed(admin, group, source)} of {len(values)} committed after 60 s"
    finally:
        assert worker.stop()
        output.close()
        admin.client.delete_topics([source, sink])
    assert worker.rewinds >= 1
    first = handled[0]
    assert any(batch[: len(first)] == first for batch in handled[1:]), "the failed batch was not handled again"
    assert sorted({v for batch in handled for v in batch}) == sorted(values)


def _committed(admin: Admin, group: str, topic: str) -> int:
    future = admin.client.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
    )[group]
    (partition,) = future.result(10).topic_partitions
    return max(partition.offset, 0)


def test_a_lone_message_is_handed_over_at_once_not_after_the_poll_timeout(settings: Settings, admin: Admin) -> None:
    """consume(n, timeout) alone would wait the whole timeout for n messages; the worker must not."""
    bootstrap = settings.kafka_bootstrap_servers or ""
    tag = uuid.uuid4().hex[:8]
    topic = f"test-worker-{tag}-lone"
    for future in admin.client.create_topics([NewTopic(topic, 1, 3)]).values():
        future.result(60)
    handled = threading.Event()
    worker = BatchWorker(
        bootstrap,
        f"test-worker-{tag}",
        [topic],
        f"{tag}-worker",
        lambda batch: handled.set(),
        tuning=replace(Tuning(), batch_size=500, poll_timeout=8.0),  # its stop waits out the last poll
    )
    worker.start()
    try:
        wait_until(lambda: bool(worker.assignment), 60, "the partition's assignment")
        feeder = ReliableProducer(bootstrap, f"{tag}-feeder")
        feeder.send(topic, b"alone")
        feeder.confirm()
        feeder.close()
        assert handled.wait(4.0), "one message was not handed over within half the poll timeout (8 s)"
    finally:
        worker.stop_event.set()
        assert worker.stop(timeout=30)
        admin.client.delete_topics([topic])
