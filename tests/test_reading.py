"""Reading topics as a tool, on the real cluster: from offset 0, from offsets, by time, and as a group."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Producer

from labkit.domain.naming import group_name
from labkit.errors import ClusterError
from labkit.experiments.group_offsets import group_offsets
from labkit.experiments.keyed import KeyedRecord, write_records
from labkit.experiments.producer_acks import NumberedWriter
from labkit.experiments.reading import GroupReader, log_ranges, offsets_at, read_topic, records_frame
from labkit.experiments.scratch_topics import create_topic, experiment_topic
from labkit.kafka.clients import base_config
from labkit.settings import Settings

pytestmark = pytest.mark.integration


def write(settings: Settings, topic: str, count: int, partition: int | None = None) -> None:
    """The numbers 0 … count-1 into `topic` (one partition, or wherever the producer puts records without a key:
    librdkafka's sticky partitioner may put them all in one)."""
    NumberedWriter(settings.kafka_bootstrap_servers or "", topic, "all", 1000, count, partition).start().join(60)


def test_read_topic_reads_from_offset_zero_from_offsets_and_from_the_end(settings: Settings, event_id: int) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "reading")
    create_topic(bootstrap, topic, partitions=2)
    write(settings, topic, 20, partition=0)
    write(settings, topic, 15, partition=1)
    everything = read_topic(bootstrap, topic)
    assert [(r.partition, r.offset, int(r.value)) for r in everything] == [
        *((0, n, n) for n in range(20)),
        *((1, n, n) for n in range(15)),
    ]
    assert {p: (r.start, r.end) for p, r in log_ranges(bootstrap, topic).items()} == {0: (0, 20), 1: (0, 15)}
    from_three = read_topic(bootstrap, topic, {0: 3})
    assert [(r.partition, r.offset) for r in from_three] == [(0, n) for n in range(3, 20)]
    assert read_topic(bootstrap, topic, "latest") == []
    assert list(records_frame(everything).columns) == ["partition", "offset", "timestamp", "key", "value"]
    with pytest.raises(ValueError, match="no partition"):
        read_topic(bootstrap, topic, {5: 0})
    with pytest.raises(ValueError, match="earliest"):
        read_topic(bootstrap, topic, "first")  # type: ignore[arg-type]
    with pytest.raises(ClusterError, match="no topic"):
        read_topic(bootstrap, experiment_topic(event_id, "missing"))


def test_arrival_order_is_the_consumers_and_a_record_without_value_is_a_tombstone(
    settings: Settings, event_id: int
) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "arrival")
    create_topic(bootstrap, topic, partitions=2)
    write_records(bootstrap, topic, [KeyedRecord("k", b"v", 0), KeyedRecord("k", None, 0), KeyedRecord("j", b"", 1)])
    received = read_topic(bootstrap, topic, arrival_order=True)
    assert sorted(received, key=lambda r: (r.partition, r.offset)) == read_topic(bootstrap, topic)
    assert [r.offset for r in received if r.partition == 0] == [0, 1], "a partition's order holds"
    assert [(r.key, r.tombstone) for r in read_topic(bootstrap, topic)] == [("k", False), ("k", True), ("j", False)]


def test_a_read_committed_end_stops_before_an_open_transaction(settings: Settings, event_id: int) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "open-transaction")
    create_topic(bootstrap, topic)
    producer = Producer(base_config(bootstrap, "test-open-transaction", transactional_id=f"test-{uuid.uuid4()}"))
    producer.init_transactions(30)
    producer.begin_transaction()
    for n in range(3):
        producer.produce(topic, str(n).encode(), partition=0)
    producer.flush(30)
    try:
        assert log_ranges(bootstrap, topic)[0].end == 0, "the last stable offset"
        assert log_ranges(bootstrap, topic, isolation="read_uncommitted")[0].end == 3, "the high watermark"
    finally:
        producer.abort_transaction(30)


def test_offsets_at_a_moment_start_at_the_first_record_written_since(settings: Settings, event_id: int) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "by-time")
    create_topic(bootstrap, topic)
    write(settings, topic, 10)
    moment = int(time.time() * 1000) + 1
    time.sleep(0.01)  # the next records' timestamps must be later than the moment, by the clock they read
    write(settings, topic, 5)
    assert offsets_at(bootstrap, topic, moment) == {0: 10}
    assert [int(r.value) for r in read_topic(bootstrap, topic, offsets_at(bootstrap, topic, moment))] == list(range(5))
    assert offsets_at(bootstrap, topic, int(time.time() * 1000) + 60_000) == {0: 15}  # nothing since: the end


def test_a_group_reader_starts_where_auto_offset_reset_says_then_where_it_committed(
    settings: Settings, event_id: int
) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "groups")
    create_topic(bootstrap, topic, partitions=2)
    write(settings, topic, 30)
    readers = {r: GroupReader(bootstrap, topic, group_name(event_id, f"test-{r}"), r) for r in ("earliest", "latest")}
    try:
        assert {r: len(g.catch_up()) for r, g in readers.items()} == {"earliest": 30, "latest": 0}
        write(settings, topic, 8)
        assert {r: len(g.catch_up()) for r, g in readers.items()} == {"earliest": 8, "latest": 8}
    finally:
        for reader in readers.values():
            reader.close()
    committed = group_offsets(bootstrap, group_name(event_id, "test-latest"), topic)
    assert committed.committed.sum() == 38 and committed.lag.sum() == 0
    again = GroupReader(bootstrap, topic, group_name(event_id, "test-earliest"), "earliest")
    try:
        assert again.catch_up() == []  # a committed offset wins over auto.offset.reset
    finally:
        again.close()
    with pytest.raises(ValueError, match="auto_offset_reset"):
        GroupReader(bootstrap, topic, "x", "middle")  # type: ignore[arg-type]
