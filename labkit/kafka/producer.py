"""A producer for at-least-once pipelines: acks=all, idempotent, batched, confirmed per batch (never per message)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from labkit.errors import LabkitError
from labkit.kafka.clients import base_config

log = logging.getLogger(__name__)


class DeliveryError(LabkitError):
    """Some produced messages were not acknowledged by the brokers: the batch must not be committed."""


class ReliableProducer:
    """`send()` queues and returns at once; `confirm()` waits until every queued message is acknowledged."""

    def __init__(self, bootstrap_servers: str, client_id: str, **overrides: Any) -> None:
        config = base_config(
            bootstrap_servers,
            client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            partitioner="murmur2_random",  # the Java client's key → partition mapping
            compression_type="lz4",
        )
        config.update(overrides)
        self._producer = Producer(config)
        self._failures: list[str] = []
        self._lock = threading.Lock()

    def send(self, topic: str, value: bytes, key: str | None = None, partition: int | None = None) -> None:
        kwargs: dict[str, Any] = {"key": key, "on_delivery": self._delivered}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, value, **kwargs)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            with self._lock:
                self._failures.append(f"{message.topic()}[{message.partition()}]: {error}")

    def confirm(self, timeout: float = 30.0) -> None:
        """Wait for every acknowledgement; DeliveryError if one failed or did not come in `timeout` s."""
        left = self._producer.flush(timeout)
        with self._lock:
            failures, self._failures = self._failures, []
        if left or failures:
            raise DeliveryError(f"{left} message(s) unacknowledged after {timeout:.0f} s; failed: {failures[:3]}")

    def close(self, timeout: float = 10.0) -> None:
        left = self._producer.flush(timeout)
        if left:
            log.warning("closing a producer with %d unacknowledged message(s)", left)
