"""One consumer, consuming in batches and committing only after its handler has finished each batch.

The handler produces its output and waits for the acknowledgements before it returns, so a crash anywhere
before the commit means redelivery (at-least-once), never loss. Handlers are idempotent, so redelivery has
no second effect.

Commits: asynchronous after each batch (no round trip on the hot path), then synchronous for the handled
offsets of partitions being revoked (so their next owner starts right after the last handled message) and of
all partitions when the worker stops. A failed commit is logged, never fatal: the next commit, or a
redelivery to an idempotent handler, covers it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from labkit.kafka.clients import base_config

log = logging.getLogger(__name__)

Handler = Callable[[list[Message]], None]


class BatchWorker:
    """Runs in a daemon thread (`start`/`stop`) or in the caller's thread (`run`), e.g. a consumer process."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: list[str],
        client_id: str,
        handler: Handler,
        batch_size: int = 500,
        poll_timeout: float = 0.2,
    ) -> None:
        self.config = base_config(
            bootstrap_servers,
            client_id,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy="cooperative-sticky",
            session_timeout_ms=6_000,  # a crashed member's partitions move on after 6 s
            heartbeat_interval_ms=1_000,
        )
        self.topics = topics
        self.client_id = client_id
        self.handler = handler
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.stop_event = threading.Event()
        self.processed = 0
        self.assignment: set[tuple[str, int]] = set()
        self.commit_failures = 0
        self._handled: dict[tuple[str, int], int] = {}  # next offset to read, per partition handled since assigned
        self._thread: threading.Thread | None = None

    # -- thread control ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.client_id, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> bool:
        """Ask the loop to finish its batch, commit, leave the group; True if the thread ended in time."""
        self.stop_event.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop ----------------------------------------------------------------------------------------------
    def run(self) -> None:
        consumer = Consumer(self.config)  # created here, not in __init__: no network work before the loop runs
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        try:
            while not self.stop_event.is_set():
                messages = consumer.consume(self.batch_size, self.poll_timeout)
                batch = [m for m in messages if not _is_error(m)]
                if batch:
                    self._handle(consumer, batch)
            self._commit_sync(consumer, list(self._handled))
        finally:
            consumer.close()  # leaves the group at once

    def _handle(self, consumer: Consumer, batch: list[Message]) -> None:
        try:
            self.handler(batch)
        except Exception:
            log.exception("%s: handling a batch of %d failed; it will be redelivered", self.client_id, len(batch))
            for tp in _first_offsets(batch):
                consumer.seek(tp)
            self.stop_event.wait(1.0)  # back off before the retry
            return
        offsets = _next_offsets(batch)
        self._handled.update({(tp.topic, tp.partition): tp.offset for tp in offsets})
        self.processed += len(batch)
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as error:  # e.g. no coordinator right now: a later commit covers it
            self.commit_failures += 1
            log.warning("%s: commit failed (%s); a later commit covers it", self.client_id, error)

    def _commit_sync(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None:
        """Commit what was handled on these partitions and wait for the answer (revocation, shutdown)."""
        offsets = [TopicPartition(t, p, self._handled[(t, p)]) for t, p in partitions if (t, p) in self._handled]
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:  # the next owner gets a redelivery, which the handlers absorb
            self.commit_failures += 1
            log.warning("%s: commit of %d partition(s) failed: %s", self.client_id, len(offsets), error)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignment |= {(tp.topic, tp.partition) for tp in partitions}

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        self._commit_sync(consumer, revoked)  # commit on revoke: the next owner starts after our last batch
        self._forget(revoked)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost (session expired): another member may own them already, so committing could move its offsets.
        self._forget([(tp.topic, tp.partition) for tp in partitions])

    def _forget(self, partitions: list[tuple[str, int]]) -> None:
        self.assignment -= set(partitions)
        for key in partitions:
            self._handled.pop(key, None)


def _is_error(message: Message) -> bool:
    error = message.error()
    if error is None:
        return False
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error: %s", error)
    return True


def _first_offsets(batch: list[Message]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for m in batch:
        key = (m.topic(), m.partition())
        first[key] = min(first.get(key, m.offset()), m.offset())
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def _next_offsets(batch: list[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], Any] = {}
    for m in batch:
        key = (m.topic(), m.partition())
        last[key] = max(last.get(key, -1), m.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
