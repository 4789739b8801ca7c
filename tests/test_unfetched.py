"""The consumer's safeguard against a partition assigned but never fetched (decision logic, no broker)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from labkit.kafka.ledger import PartitionLedger
from labkit.kafka.watchdog import UnfetchedWatchdog
from labkit.settings import Tuning

pytestmark = pytest.mark.unit


class ConsumerState:
    """What the check asks a consumer: positions, committed offsets, watermarks; records the seeks."""

    def __init__(
        self, positions: dict[int, int], committed: dict[int, int], watermarks: dict[int, tuple[int, int]]
    ) -> None:
        self.positions, self.committed_offsets, self.watermarks = positions, committed, watermarks
        self.seeks: list[tuple[int, int]] = []
        self.asked_for_commits: list[list[int]] = []

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions[tp.partition]) for tp in partitions]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.asked_for_commits.append([tp.partition for tp in partitions])
        return [TopicPartition(tp.topic, tp.partition, self.committed_offsets[tp.partition]) for tp in partitions]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
        assert cached  # never a request: a broker may be down
        return self.watermarks[tp.partition]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.partition, tp.offset))


WAIT = Tuning().unfetched_after


@pytest.fixture
def watchdog() -> UnfetchedWatchdog:
    return UnfetchedWatchdog("w", WAIT)


def test_only_a_partition_with_messages_waiting_and_none_read_is_sought_once_per_assignment(
    watchdog: UnfetchedWatchdog,
) -> None:
    # 0: read (position 5); 1: idle, empty log; 2: none read, 7 waiting after the commit at 3; 3: none read, no
    # commit: from the log start (0), 2 waiting; 4: no fetch response ever (watermarks unknown), commit at 6;
    # 5: none read, but the log's 4 messages were all committed before: nothing waits.
    consumer = ConsumerState(
        {0: 5, 1: -1001, 2: -1001, 3: -1001, 4: -1001, 5: -1001},
        {2: 3, 3: -1001, 4: 6, 5: 4},
        {0: (0, 5), 1: (4, 4), 2: (0, 10), 3: (0, 2), 4: (-1001, -1001), 5: (0, 4)},
    )
    ledger, now = PartitionLedger(), 1000.0
    ledger.assign([("t", p) for p in range(6)], now)
    now += WAIT - 1
    watchdog.check(consumer, ledger, now)  # type: ignore[arg-type]
    assert consumer.seeks == []  # too early
    now += WAIT / 3  # the next check
    watchdog.check(consumer, ledger, now)  # type: ignore[arg-type]
    assert consumer.asked_for_commits == [[2, 3, 4, 5]]  # one request, only for the suspects
    assert consumer.seeks == [(2, 3), (3, 0), (4, 6)] and watchdog.unstuck == 3
    now += WAIT
    watchdog.check(consumer, ledger, now)  # type: ignore[arg-type]
    assert len(consumer.seeks) == 3  # once per assignment
    ledger.forget([("t", 2)])
    ledger.assign([("t", 2)], now)  # assigned again: checked again
    now += WAIT
    watchdog.check(consumer, ledger, now)  # type: ignore[arg-type]
    assert consumer.seeks[3:] == [(2, 3)]


class NoCoordinator(ConsumerState):
    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.asked_for_commits.append([tp.partition for tp in partitions])
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT))


def test_without_an_answer_from_the_coordinator_the_suspects_are_checked_again_later(
    watchdog: UnfetchedWatchdog,
) -> None:
    consumer = NoCoordinator({0: -1001}, {0: 0}, {0: (0, 3)})
    ledger, now = PartitionLedger(), 1000.0
    ledger.assign([("t", 0)], now)
    for _ in range(2):
        now += WAIT
        watchdog.check(consumer, ledger, now)  # type: ignore[arg-type]
    assert consumer.asked_for_commits == [[0], [0]] and consumer.seeks == []
