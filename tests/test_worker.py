"""BatchWorker on the real cluster: a batch whose output is not acknowledged is handled again, never committed."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import NewTopic

from labkit.kafka.clients import admin_client
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.worker import BatchWorker
from labkit.settings import Settings


def test_a_batch_whose_output_fails_is_handled_again_and_only_then_committed(settings: Settings) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    tag = uuid.uuid4().hex[:8]
    source, sink, group = f"test-worker-{tag}-in", f"test-worker-{tag}-out", f"test-worker-{tag}"
    admin = admin_client(bootstrap)
    for future in admin.create_topics([NewTopic(source, 1, 3), NewTopic(sink, 1, 3)]).values():
        future.result(60)
    # The first batch's output goes to a topic that does not exist: its delivery fails after 2 s.
    output = ReliableProducer(bootstrap, f"{tag}-out", **{"message.timeout.ms": 2_000})
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
        deadline = time.monotonic() + 60
        while _committed(admin, group, source) < len(values) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _committed(admin, group, source) == len(values)
    finally:
        assert worker.stop()
        output.close()
        admin.delete_topics([source, sink])
    assert worker.rewinds >= 1
    first = handled[0]
    assert any(batch[: len(first)] == first for batch in handled[1:]), "the failed batch was not handled again"
    assert sorted({v for batch in handled for v in batch}) == sorted(values)


def _committed(admin, group: str, topic: str) -> int:  # type: ignore[no-untyped-def]
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group]
    (partition,) = future.result(10).topic_partitions
    return max(partition.offset, 0)
