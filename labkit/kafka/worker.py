"""One consumer, consuming in batches and committing only after its handler has finished each batch.

The handler produces its output and waits for the acknowledgements before it returns, so a crash anywhere
before the commit means redelivery (at-least-once), never loss. Handlers are idempotent, so redelivery has
no second effect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

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
            session_timeout_ms=10_000,
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
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke)
        try:
            while not self.stop_event.is_set():
                messages = consumer.consume(self.batch_size, self.poll_timeout)
                batch = [m for m in messages if not _is_error(m)]
                if batch:
                    self._handle(consumer, batch)
        finally:
            consumer.close()  # commits nothing (auto-commit is off), leaves the group at once

    def _handle(self, consumer: Consumer, batch: list[Message]) -> None:
        try:
            self.handler(batch)
        except Exception:
            log.exception("%s: handling a batch of %d failed; it will be redelivered", self.client_id, len(batch))
            for tp in _first_offsets(batch):
                consumer.seek(tp)
            self.stop_event.wait(1.0)  # back off before the retry
            return
        consumer.commit(offsets=_next_offsets(batch), asynchronous=False)
        self.processed += len(batch)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignment |= {(tp.topic, tp.partition) for tp in partitions}

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Every handled batch was committed before the next consume(), which is where this runs: nothing is
        # pending, so a revoked partition's next owner starts exactly after the last handled message.
        self.assignment -= {(tp.topic, tp.partition) for tp in partitions}


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
