"""A producer for at-least-once pipelines: acks=all, idempotent, batched, confirmed per batch (never per message).

An idempotent producer can hit a *fatal* error (seen here after a broker was killed: OUT_OF_ORDER_SEQUENCE_NUMBER
on a partition whose leader moved). librdkafka then refuses every further message for good. ReliableProducer
keeps each message until it is acknowledged; on a fatal error it starts a fresh producer (a new producer id)
and sends every unacknowledged message again. Some may arrive twice, which the idempotent consumers absorb;
none is lost.

librdkafka puts one partition in each ProduceRequest (confluentinc/librdkafka#1700), and a broker handles one
request per connection at a time, answering an acks=all produce only once the followers have the data. So
a producer writing to many partitions of one broker serves them in turn, one replication round trip each,
and its queue grows with the partition count (docs/benchmark.md, "Why these settings", has the measurement).
`lanes` spreads the partitions over that many librdkafka producers (partition % lanes), each with its own connections.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from labkit.checks import is_int
from labkit.errors import ConfigError, DeliveryError
from labkit.kafka.clients import base_config
from labkit.settings import Tuning

log = logging.getLogger(__name__)

Record = tuple[str, bytes | None, str | None, int | None]  # topic, value (None: a tombstone), key, partition
DeliveryHook = Callable[[KafkaError | None, Message], None]


class ReliableProducer:
    """`send()` queues and returns at once; `confirm()` waits until every queued message is acknowledged.

    For pipelines that keep several batches in flight: `mark()` after a batch's sends, later
    `acknowledged(mark)` tells whether everything sent before the mark is acknowledged (message ids grow with
    every send, so the oldest unacknowledged id decides).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        client_id: str,
        lanes: int = 1,
        linger_ms: int = Tuning.producer_linger_ms,
        on_delivery: DeliveryHook | None = None,
        **overrides: Any,
    ) -> None:
        """`on_delivery(error, message)`: told each message's final outcome (a fault check's history);
        `overrides`: librdkafka settings over labkit's (`**{"acks": "1", "enable.idempotence": False}`)."""
        if not is_int(lanes) or not 1 <= lanes <= 32:
            raise ConfigError(f"lanes must be an integer from 1 to 32, got {lanes!r}")
        self._config = base_config(
            bootstrap_servers,
            client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            partitioner="murmur2_random",  # the Java client's key → partition mapping
            compression_type="none",  # batches here hold 1-3 messages of ~250 B: nothing to gain
        )
        self._config.update(overrides)
        self._lanes = [Producer(self._config) for _ in range(lanes)]
        self._lock = threading.Lock()
        self._in_flight: dict[int, Record] = {}
        self._next_id = 0
        self._failures: list[str] = []
        self._fatal: str | None = None
        self._closing = threading.Event()
        self._reporter: threading.Thread | None = None
        self._on_delivery = on_delivery
        self.restarts = 0

    def send(self, topic: str, value: bytes | None, key: str | None = None, partition: int | None = None) -> None:
        with self._lock:
            message_id, self._next_id = self._next_id, self._next_id + 1
            self._in_flight[message_id] = (topic, value, key, partition)
        self._produce(message_id, (topic, value, key, partition))
        if self._fatal is not None:
            self._restart()

    def _produce(self, message_id: int, record: Record) -> None:
        topic, value, key, partition = record
        kwargs: dict[str, Any] = {"key": key, "on_delivery": lambda e, m: self._delivered(message_id, e, m)}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            producer = self._lanes[0 if partition is None else partition % len(self._lanes)]
            try:
                producer.produce(topic, value, **kwargs)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.1)
            except KafkaException as error:
                if not error.args[0].fatal() and error.args[0].code() != KafkaError._FATAL:
                    raise
                self._fatal = str(error)
                if self._restart(producer):  # resent this message with the others still in flight
                    return
                # another thread replaced the lanes a moment ago: send this message on the new ones
        producer.poll(0)

    def _delivered(self, message_id: int, error: KafkaError | None, message: Message) -> None:
        if error is not None and (error.fatal() or error.code() == KafkaError._FATAL):
            self._fatal = str(error)  # keep the message in flight: the next producer sends it again
            return
        with self._lock:
            record = self._in_flight.pop(message_id, None)
            if error is not None and record is not None:
                self._failures.append(f"{message.topic()}[{message.partition()}]: {error}")
        if self._on_delivery is not None and record is not None:
            try:
                self._on_delivery(error, message)
            except Exception:  # the hook's failure must not stop the reports of the other messages
                log.exception("producer %s: on_delivery failed", self._config.get("client.id"))

    def _restart(self, broken: Producer | None = None) -> bool:
        """Replace the producers after a fatal error and resend what they left unacknowledged; False if `broken`
        was already replaced by another thread (which resent what was in flight then)."""
        with self._lock:
            if broken is not None and broken not in self._lanes:
                return False
            if broken is None and self._fatal is None:
                return False  # another thread has just restarted
            log.error(
                "producer %s: fatal error (%s); starting a new one and resending %d message(s)",
                self._config.get("client.id"),
                self._fatal,
                len(self._in_flight),
            )
            self._lanes = [Producer(self._config) for _ in self._lanes]
            self._fatal = None
            self.restarts += 1
            pending = sorted(self._in_flight.items())
        for message_id, record in pending:
            self._produce(message_id, record)
        return True

    def confirm(self, timeout: float = 30.0) -> None:
        """Wait for every acknowledgement; DeliveryError if one failed or did not come in `timeout` s."""
        left = self._flush(timeout)
        if self._fatal is not None:
            self._restart()
            left = self._flush(timeout)
        self._raise_failures()
        if left or self._fatal is not None:
            raise DeliveryError(f"{left} message(s) unacknowledged after {timeout:.0f} s")

    def mark(self) -> int:
        """The position after everything sent so far (see `acknowledged`)."""
        with self._lock:
            return self._next_id

    def acknowledged(self, mark: int, timeout: float = 0.0) -> bool:
        """Serve delivery reports for up to `timeout` s until everything sent before `mark` is acknowledged.

        False if some of it is still in flight; DeliveryError if a message failed since the last check (the
        caller cannot tell which batch it belonged to, so it must treat every unconfirmed batch as failed).
        """
        deadline = time.monotonic() + timeout
        step = 0.05 if len(self._lanes) == 1 else 0.005  # a wait on one lane must not delay the others' reports
        while True:
            self._poll(max(0.0, min(step, deadline - time.monotonic())))
            if self._fatal is not None:
                self._restart()
            self._raise_failures()
            with self._lock:
                done = not self._in_flight or next(iter(self._in_flight)) >= mark  # ids are inserted in order
            if done or time.monotonic() >= deadline:
                return done

    def _poll(self, timeout: float) -> None:
        """Serve delivery reports: every lane without waiting, then wait on the first for up to `timeout` s."""
        first, *others = self._lanes
        for lane in others:
            lane.poll(0)
        first.poll(timeout)

    def _flush(self, timeout: float) -> int:
        """Wait until every lane has sent and been acknowledged; how many messages are left after `timeout` s."""
        deadline = time.monotonic() + timeout
        return sum(lane.flush(max(0.0, deadline - time.monotonic())) for lane in self._lanes)

    def _raise_failures(self) -> None:
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise DeliveryError(f"{len(failures)} message(s) failed: {failures[:3]}")

    def serve_reports_in_background(self, interval: float = 0.05) -> None:
        """Serve delivery reports from a thread of its own, for a producer that no loop polls (the one behind
        `Lab.book`): otherwise a fatal error after the last send would never be noticed, and the messages it
        left in flight would never be resent. Stopped by `close()`."""
        if self._reporter is not None:
            return

        def serve() -> None:
            while not self._closing.wait(interval):
                self._poll(0)
                if self._fatal is not None:
                    self._restart()
                try:
                    self._raise_failures()
                except DeliveryError as error:  # no batch to redo here: the bookings stay PENDING, visibly
                    log.error("producer %s: %s", self._config.get("client.id"), error)

        self._reporter = threading.Thread(target=serve, name=f"{self._config.get('client.id')}-reports", daemon=True)
        self._reporter.start()

    def close(self, timeout: float = 10.0) -> None:
        self._closing.set()
        if self._reporter is not None:
            self._reporter.join(timeout)
        left = self._flush(timeout)
        if left:
            log.warning("closing a producer with %d unacknowledged message(s)", left)
