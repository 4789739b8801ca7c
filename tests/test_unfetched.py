"""The worker's safeguard against a partition assigned but never fetched (decision logic, no broker)."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from labkit.kafka import worker as worker_module
from labkit.kafka.worker import BatchWorker

pytestmark = pytest.mark.unit


class ConsumerState:
    """What the check asks a consumer: positions, committed offsets, watermarks; records the seeks."""

    def __init__(self, positions: dict[int, int], committed: dict[int, int], high: dict[int, int]) -> None:
        self.positions, self.committed_offsets, self.high = positions, committed, high
        self.seeks: list[tuple[int, int]] = []

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions[tp.partition]) for tp in partitions]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.committed_offsets[tp.partition]) for tp in partitions]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return 0, self.high[tp.partition]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.partition, tp.offset))


def test_only_a_partition_with_messages_waiting_and_none_read_is_sought_once_per_assignment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock[0])
    worker = BatchWorker("127.0.0.1:1", "g", ["t"], "w", handler=lambda batch: None)
    # 0: read (position 5); 1: idle (nothing waiting); 2: never fetched, 7 waiting after the commit at 3;
    # 3: never fetched, no commit: from the log start (0), 2 waiting.
    consumer = ConsumerState({0: 5, 1: -1001, 2: -1001, 3: -1001}, {1: 4, 2: 3, 3: -1001}, {1: 4, 2: 10, 3: 2})
    worker._on_assign(consumer, [TopicPartition("t", p) for p in range(4)])  # type: ignore[arg-type]
    clock[0] += worker_module.UNFETCHED_AFTER - 1
    worker._check_unfetched(consumer)  # type: ignore[arg-type]
    assert consumer.seeks == []  # too early
    clock[0] += worker_module.UNFETCHED_AFTER / 3  # the next check
    worker._check_unfetched(consumer)  # type: ignore[arg-type]
    assert consumer.seeks == [(2, 3), (3, 0)] and worker.unstuck == 2
    clock[0] += worker_module.UNFETCHED_AFTER
    worker._check_unfetched(consumer)  # type: ignore[arg-type]
    assert len(consumer.seeks) == 2  # once per assignment
