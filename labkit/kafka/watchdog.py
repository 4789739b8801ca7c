"""A safeguard for a consumer: a partition assigned long ago from which not one message was read, although
messages wait there, is sought to its start offset and a warning says so.

In 1 of ~12 broker-kill fault runs a partition stayed assigned to a live member without one message fetched
from it, for minutes, with no error reported. The check reads only what librdkafka already knows (positions,
the watermarks of the last fetch response) and asks the coordinator for commits only for partitions that look
stuck, in one request: the consumer's loop is never held up by a broker that is down.
"""

from __future__ import annotations

import logging

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from labkit.kafka.ledger import Partition, PartitionLedger

log = logging.getLogger(__name__)

COMMITTED_TIMEOUT = 2.0  # seconds the check may wait for the coordinator's committed offsets


class UnfetchedWatchdog:
    """Checks a consumer's partitions every `unfetched_after / 3` s; each assignment of a partition once."""

    def __init__(self, client_id: str, unfetched_after: float) -> None:
        self.client_id = client_id
        self.unfetched_after = unfetched_after
        self.unstuck = 0  # partitions found assigned but never fetched, and sought to their start offset
        self._checked: set[tuple[Partition, float]] = set()  # (partition, its assignment time) already checked
        self._next_check = 0.0

    def check(self, consumer: Consumer, ledger: PartitionLedger, now: float) -> None:
        """Seek every partition assigned `unfetched_after` s before `now` (monotonic), not paused, with no
        message read from it and messages waiting after its start offset (the group's commit, else the log
        start)."""
        if now < self._next_check:
            return
        self._next_check = now + self.unfetched_after / 3
        assignments = set(ledger.assigned_at.items())
        self._checked &= assignments  # a partition assigned again is checked again
        due = [
            (p, at)
            for p, at in sorted(assignments)
            if now - at >= self.unfetched_after and (p, at) not in self._checked and p not in ledger.paused
        ]
        if not due:
            return
        self._checked |= set(due)
        unread = [tp for tp in consumer.position([TopicPartition(t, p) for (t, p), _ in due]) if tp.offset < 0]
        watermarks = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, cached=True) for tp in unread}
        # Unknown watermarks (never a fetch response), or messages in the log: the commit says whether they wait.
        suspects = [tp for tp in unread if _may_wait(*watermarks[(tp.topic, tp.partition)])]
        if not suspects:
            return
        try:
            committed = consumer.committed(suspects, timeout=COMMITTED_TIMEOUT)
        except KafkaException as error:  # no coordinator right now: check these again later
            log.info("%s: checking unfetched partitions failed (%s); will retry", self.client_id, error)
            self._checked -= {(p, at) for p, at in due if p in {(tp.topic, tp.partition) for tp in suspects}}
            return
        for tp in committed:
            low, high = watermarks[(tp.topic, tp.partition)]
            start = tp.offset if tp.offset >= 0 else (low if low >= 0 else OFFSET_BEGINNING)
            if high >= 0 and high <= start:
                continue  # everything in the log was handled before this assignment: nothing waits
            log.warning(
                "%s: %s[%d] assigned %.0f s ago, none fetched (high watermark %s): seeking to %d",
                self.client_id,
                tp.topic,
                tp.partition,
                now - ledger.assigned_at[(tp.topic, tp.partition)],
                high if high >= 0 else "unknown",
                start,
            )
            consumer.seek(TopicPartition(tp.topic, tp.partition, start))
            self.unstuck += 1


def _may_wait(low: int, high: int) -> bool:
    """From the cached watermarks: unknown (no fetch response for it yet) or a non-empty log."""
    return high < 0 or high > low
