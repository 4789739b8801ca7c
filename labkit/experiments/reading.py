"""Reading a topic as a tool: from offset 0, from chosen offsets or from a moment, up to where the log ends now.

Notebooks 06 and 08 read topics to count what the log holds, replay it or rebuild a view from it. A reader here
takes its partitions with `assign()`, not a group subscription: it joins no group, commits nothing and moves
no one's offsets, so reading never disturbs the services. It stops at each partition's end as the brokers
report it when the read begins (librdkafka's partition EOF), so a cell that reads a live topic still ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from labkit.errors import ClusterError, ConfigError, WaitTimeout
from labkit.kafka.clients import base_config

Start = Literal["earliest", "latest"] | Mapping[int, int]
Isolation = Literal["read_committed", "read_uncommitted"]
READ_TIMEOUT = 60.0  # s: a read of what is already in the log; bounded so a cell never hangs on a dead broker


@dataclass(frozen=True)
class LogRecord:
    """One record as the log holds it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: bytes
    tombstone: bool = False  # the record has no value at all (b"" here): in a compacted topic, deletes its key


@dataclass(frozen=True)
class LogRange:
    """A partition's log start offset (the oldest record still kept) and log-end offset (the next to be written)."""

    start: int
    end: int


def reader_config(bootstrap_servers: str, client_id: str = "labkit-reader", **overrides: object) -> dict[str, object]:
    """A consumer that joins no group and commits nothing (librdkafka still wants a group.id)."""
    return base_config(
        bootstrap_servers,
        client_id,
        group_id=f"labkit-reader-{uuid.uuid4().hex[:12]}",
        enable_auto_commit=False,
        enable_auto_offset_store=False,
        enable_partition_eof=True,
        **overrides,
    )


def log_ranges(
    bootstrap_servers: str, topic: str, timeout: float = 10.0, isolation: Isolation = "read_committed"
) -> dict[int, LogRange]:
    """partition → its log start and log-end offsets, as the partition leaders report them now. A
    read_committed reader's end is the last stable offset: records of a transaction still open lie past it;
    "read_uncommitted" gives the high watermark, which counts them."""
    consumer = Consumer(reader_config(bootstrap_servers, isolation_level=isolation))
    try:
        partitions = _partitions(consumer, topic, timeout)
        return {p: LogRange(*consumer.get_watermark_offsets(TopicPartition(topic, p), timeout)) for p in partitions}
    except KafkaException as exc:
        raise ClusterError(f"reading the offsets of {topic} failed: {exc.args[0]}") from exc
    finally:
        consumer.close()


def offsets_at(bootstrap_servers: str, topic: str, timestamp_ms: int, timeout: float = 10.0) -> dict[int, int]:
    """partition → the offset of its first record written at or after `timestamp_ms` (Kafka's offsets_for_times);
    a partition with nothing that recent gives its log-end offset: reading from there reads nothing."""
    consumer = Consumer(reader_config(bootstrap_servers))
    try:
        partitions = _partitions(consumer, topic, timeout)
        found = consumer.offsets_for_times([TopicPartition(topic, p, timestamp_ms) for p in partitions], timeout)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout)[1] for p in partitions}
    except KafkaException as exc:
        raise ClusterError(f"looking up offsets of {topic} at {timestamp_ms} failed: {exc.args[0]}") from exc
    finally:
        consumer.close()
    return {tp.partition: (tp.offset if tp.offset >= 0 else ends[tp.partition]) for tp in found}


def read_topic(
    bootstrap_servers: str,
    topic: str,
    start: Start = "earliest",
    isolation: Isolation = "read_committed",
    timeout: float = READ_TIMEOUT,
    arrival_order: bool = False,
) -> list[LogRecord]:
    """Every record of `topic` from `start` ("earliest": each partition's log start; "latest": nothing; or
    {partition: offset}, other partitions not read) up to each partition's end when the read began, in
    partition then offset order (`arrival_order`: in the order the consumer received them). ClusterError if that
    takes more than `timeout` s."""
    if isinstance(start, str) and start not in ("earliest", "latest"):
        raise ConfigError(f"start must be 'earliest', 'latest' or {{partition: offset}}, got {start!r}")
    consumer = Consumer(reader_config(bootstrap_servers, isolation_level=isolation))
    try:
        partitions = _partitions(consumer, topic, timeout)
        if isinstance(start, str):
            offsets = dict.fromkeys(partitions, OFFSET_BEGINNING if start == "earliest" else OFFSET_END)
        else:
            unknown = sorted(set(start) - set(partitions))
            if unknown:
                raise ConfigError(f"{topic} has partitions 0–{len(partitions) - 1}; no partition {unknown}")
            offsets = dict(start)
        records = _read_to_end(consumer, topic, offsets, timeout)
        return records if arrival_order else sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def _partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise ClusterError(f"no topic {topic}: {metadata.error if metadata else 'not listed'}")
    return sorted(metadata.partitions)


def _read_to_end(consumer: Consumer, topic: str, offsets: dict[int, int], timeout: float) -> list[LogRecord]:
    deadline = time.monotonic() + timeout
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout)[1] for p in offsets}
    waiting = {p for p, at in offsets.items() if at != OFFSET_END and at < ends[p]}
    records: list[LogRecord] = []
    if not waiting:
        return records
    consumer.assign([TopicPartition(topic, p, offsets[p]) for p in sorted(waiting)])
    while waiting:
        if time.monotonic() > deadline:
            raise WaitTimeout(f"reading {topic} took over {timeout:.0f} s; partitions {sorted(waiting)} unfinished")
        for message in consumer.consume(500, timeout=0.2):
            error, partition = message.error(), message.partition() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    waiting.discard(partition)
                    continue
                raise ClusterError(f"reading {topic} failed: {error}")
            records.append(log_record(message))
            if (message.offset() or 0) >= ends[partition] - 1:
                waiting.discard(partition)
    return records


def log_record(message: Message) -> LogRecord:
    """A consumed message as a LogRecord (a tombstone's value as b"")."""
    key, value = message.key(), message.value()
    return LogRecord(
        message.topic() or "",
        message.partition() or 0,
        message.offset() or 0,
        message.timestamp()[1],
        key.decode() if key is not None else None,
        value or b"",
        value is None,
    )


def records_frame(records: list[LogRecord]) -> pd.DataFrame:
    """partition, offset, timestamp (datetime), key, value (text) — one row per record."""
    return pd.DataFrame(
        {
            "partition": [r.partition for r in records],
            "offset": [r.offset for r in records],
            "timestamp": pd.to_datetime([r.timestamp_ms for r in records], unit="ms"),
            "key": [r.key for r in records],
            "value": [r.value.decode(errors="replace") for r in records],
        }
    )


class GroupReader:
    """A consumer in a group of the caller's choosing (say, a fresh one with auto.offset.reset=earliest), read in
    steps from a notebook cell: each `catch_up()` reads until the group's position has reached where every
    partition's log ended when the call began, commits that position, and returns what it read. `close()` leaves
    the group.

    A group without committed offsets starts where `auto_offset_reset` says; so does a group whose committed
    offset is no longer in the log (retention deleted it). `positions` is where it will read next.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        auto_offset_reset: Literal["earliest", "latest"],
        isolation: Isolation = "read_committed",
    ) -> None:
        if auto_offset_reset not in ("earliest", "latest"):
            raise ConfigError(f"auto_offset_reset must be 'earliest' or 'latest', got {auto_offset_reset!r}")
        self.topic, self.group_id = topic, group_id
        config = base_config(
            bootstrap_servers,
            f"labkit-reader-{group_id}"[:200],
            group_id=group_id,
            auto_offset_reset=auto_offset_reset,
            enable_auto_commit=False,
            enable_partition_eof=True,
            isolation_level=isolation,
        )
        self._consumer = Consumer(config)
        self._consumer.subscribe([topic])
        self.positions: dict[int, int] = {}  # partition → the next offset to read, once known

    def catch_up(self, timeout: float = READ_TIMEOUT) -> list[LogRecord]:
        """Read until every partition of the topic is assigned and read to its end as of this call; commit."""
        deadline = time.monotonic() + timeout
        partitions = _partitions(self._consumer, self.topic, timeout)
        targets: dict[int, int] = {}
        records: list[LogRecord] = []
        while True:
            assigned = {tp.partition for tp in self._consumer.assignment()}
            for p in assigned - set(targets):
                targets[p] = self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout)[1]
            if assigned == set(partitions) and all(self.positions.get(p, -1) >= targets[p] for p in partitions):
                break
            if time.monotonic() > deadline:
                raise WaitTimeout(f"{self.group_id} did not read {self.topic} to its end within {timeout:.0f} s")
            for message in self._consumer.consume(500, timeout=0.2):
                error, partition, offset = message.error(), message.partition() or 0, message.offset() or 0
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    self.positions[partition] = offset  # an EOF's offset is the log-end offset it reached
                elif error is not None:
                    raise ClusterError(f"{self.group_id} reading {self.topic} failed: {error}")
                else:
                    self.positions[partition] = offset + 1
                    records.append(log_record(message))
        offsets = [TopicPartition(self.topic, p, at) for p, at in sorted(self.positions.items())]
        self._consumer.commit(offsets=offsets, asynchronous=False)  # even with nothing read: where it stands
        return sorted(records, key=lambda r: (r.partition, r.offset))

    def close(self) -> None:
        """Leave the group (its committed offsets stay)."""
        self._consumer.close()
