"""The plain pipe: the two Kafka hops of a booking with confluent-kafka alone, as a baseline for labkit's latency.

A booking travels produce → consume → produce → consume, both hops `acks=all` over replicated topics, plus the
services' work and Redis. The plain pipe is the same two hops written here with confluent-kafka and nothing
from labkit's Kafka code, services or store (a secured cluster's connection settings apart): one producer →
`forwarders` consumers that produce each message on to the same partition of a second topic → `sinks` consumers.
Measured the same way as labkit (open loop, latency from each message's *scheduled* send time to its arrival at
a sink), it says what the cluster itself costs at a rate, so that labkit's curve can be read against it. With 10
partitions instead of 100 it also shows what the partition count costs a small machine.

    with PlainPipe(lab.bootstrap_servers, partitions=100) as pipe:
        print(pipe.open_loop(rate=100, seconds=5).row())
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from labkit.errors import StateError, WaitTimeout
from labkit.kafka.clients import connection_config
from labkit.measurement.latency_stats import LatencySummary, check_load, summarize_latency

# librdkafka's own log lines (a request timed out …) to logging, not stderr (as in labkit.kafka.clients)
PIPE_LOG = logging.getLogger("labkit.measurement.pipe.librdkafka")
PIPE_LOG.setLevel(logging.ERROR)
PIPE_LOG.addHandler(logging.NullHandler())
RECORD_BYTES = 200  # about the size of a reserve-seats message
_STAMP = struct.Struct("!dI")  # scheduled send time (epoch ms; 0 for a probe) and the message's index
TOPIC_TIMEOUT = 60.0


class PlainPipe:
    """Two fresh topics and their consumer threads, kept for several open-loop runs; deleted by `close()`."""

    def __init__(
        self, bootstrap_servers: str, partitions: int = 100, forwarders: int = 4, sinks: int = 4, replication: int = 3
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.partitions = partitions
        tag = uuid.uuid4().hex[:8]
        self.topics = (f"plain-pipe-{tag}-in", f"plain-pipe-{tag}-out")
        self.groups = (f"plain-pipe-{tag}-forward", f"plain-pipe-{tag}-sink")
        self._common: dict[str, Any] = {
            **connection_config(bootstrap_servers),  # bootstrap.servers, and a secured cluster's TLS / SASL
            "socket.nagle.disable": True,
            "logger": PIPE_LOG,
        }
        self._producer_config = {**self._common, "acks": "all", "enable.idempotence": True, "linger.ms": 5}
        self._admin = AdminClient(self._common)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._arrivals: dict[int, float] = {}  # message index → arrival at a sink (epoch ms)
        self._probes = 0
        self._next_index = 0
        self._threads = [
            threading.Thread(target=self._forward, name=f"labkit-pipe-{tag}-forward", daemon=True)
            for _ in range(forwarders)
        ]
        self._threads += [
            threading.Thread(target=self._sink, name=f"labkit-pipe-{tag}-sink", daemon=True) for _ in range(sinks)
        ]
        self._replication = replication
        self._source: Producer | None = None

    # -- life cycle ----------------------------------------------------------------------------------------------
    def __enter__(self) -> PlainPipe:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def open(self, timeout: float = TOPIC_TIMEOUT) -> PlainPipe:
        """Create the topics, start the consumers, and wait until one probe through every partition arrived:
        the groups have settled and every leader is known before anything is timed."""
        # a metadata listing first: librdkafka drops its bootstrap connections once it learns the brokers' ids, and
        # a request sent before that fails with _DESTROY_BROKER (seen right after a cluster start; labkit.kafka.admin)
        self._admin.list_topics(timeout=timeout)
        futures = self._admin.create_topics([NewTopic(t, self.partitions, self._replication) for t in self.topics])
        for future in futures.values():
            future.result(timeout)
        for thread in self._threads:
            thread.start()
        self._source = Producer(self._producer_config)
        deadline = time.monotonic() + timeout
        for partition in range(self.partitions):
            self._produce(0.0, partition)
        while self._probes < self.partitions:
            if time.monotonic() > deadline:
                self.close()
                raise WaitTimeout(f"the plain pipe's probes arrived on {self._probes} of {self.partitions} partitions")
            self._source.poll(0.05)
        return self

    def close(self) -> None:
        """Stop and join the consumer threads, delete the topics and the groups."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(30)
        if self._source is not None:
            self._source.flush(10)
            self._source = None
        # a topic never created (open failed early) or a group that never committed: nothing to delete
        for future in self._admin.delete_topics(list(self.topics)).values():
            with contextlib.suppress(KafkaException):
                future.result(TOPIC_TIMEOUT)
        for future in self._admin.delete_consumer_groups(list(self.groups)).values():
            with contextlib.suppress(KafkaException):
                future.result(TOPIC_TIMEOUT)

    # -- the load ------------------------------------------------------------------------------------------------
    def open_loop(self, rate: float, seconds: float, timeout: float = 60.0) -> LatencySummary:
        """`rate` messages/s for `seconds`, round robin over the partitions; latency from each scheduled send."""
        return summarize_latency(rate, *self.open_loop_samples(rate, seconds, timeout))

    def open_loop_samples(
        self, rate: float, seconds: float, timeout: float = 60.0
    ) -> tuple[list[float], list[float | None]]:
        """As `open_loop`, but each message's scheduled send and arrival (epoch ms; None if it never arrived),
        for figures over time (`latency_stats.windows`)."""
        check_load(rate, seconds)
        if self._source is None:
            raise StateError("the plain pipe is not open: use `with PlainPipe(...) as pipe` or call open()")
        count = max(1, round(rate * seconds))
        first = self._next_index
        start_wall, start = time.time(), time.monotonic()
        for i in range(count):
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # pacing until the next scheduled send: the load's shape, not synchronisation
            self._produce((start_wall + i / rate) * 1000, i % self.partitions)
        indices = range(first, first + count)
        deadline = time.monotonic() + timeout
        while not all(i in self._arrivals for i in indices) and time.monotonic() < deadline:
            self._source.poll(0.05)
        scheduled = [(start_wall + i / rate) * 1000 for i in range(count)]
        return scheduled, [self._arrivals.get(i) for i in indices]

    def open_loop_during(
        self, action: Callable[[], object], rate: float, seconds: float, timeout: float = 60.0
    ) -> tuple[list[float], list[float | None], float]:
        """`open_loop_samples` while `action` runs in another thread, started with the first send: what a
        stream meets while, say, an event's topics are created. Returns the samples and the action's seconds;
        an exception of the action is raised after the stream."""
        took: list[float] = []
        failed: list[BaseException] = []

        def timed() -> None:
            began = time.monotonic()
            try:
                action()
            except BaseException as error:  # raised in the caller's thread below
                failed.append(error)
            took.append(time.monotonic() - began)

        worker = threading.Thread(target=timed, name="labkit-pipe-action", daemon=True)
        worker.start()
        try:
            starts, ends = self.open_loop_samples(rate, seconds, timeout)
        finally:
            worker.join()
        if failed:
            raise failed[0]
        return starts, ends, took[0]

    def _produce(self, scheduled_ms: float, partition: int) -> None:
        assert self._source is not None
        with self._lock:
            index = self._next_index
            self._next_index += 1
        payload = _STAMP.pack(scheduled_ms, index).ljust(RECORD_BYTES, b"x")
        while True:
            try:
                self._source.produce(self.topics[0], payload, partition=partition)
                break
            except BufferError:
                self._source.poll(0.01)
        self._source.poll(0)

    # -- the consumers -------------------------------------------------------------------------------------------
    def _consumer(self, group: str, topic: str) -> Consumer:
        consumer = Consumer(
            {**self._common, "group.id": group, "group.protocol": "consumer", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([topic])
        return consumer

    @staticmethod
    def _batch(consumer: Consumer) -> list[Any]:
        """The first message (waiting up to 0.1 s), then what is already fetched: no wait at low load."""
        first = consumer.poll(0.1)
        if first is None or first.error() is not None:
            return []
        return [first, *(m for m in consumer.consume(499, 0) if m.error() is None)]

    def _forward(self) -> None:
        consumer, producer = self._consumer(self.groups[0], self.topics[0]), Producer(self._producer_config)
        try:
            while not self._stop.is_set():
                for message in self._batch(consumer):
                    producer.produce(self.topics[1], message.value(), partition=message.partition())
                producer.poll(0)
            producer.flush(10)
        finally:
            consumer.close()

    def _sink(self) -> None:
        consumer = self._consumer(self.groups[1], self.topics[1])
        try:
            while not self._stop.is_set():
                batch = self._batch(consumer)
                now = time.time() * 1000
                for message in batch:
                    scheduled_ms, index = _STAMP.unpack_from(message.value())
                    if scheduled_ms == 0.0:
                        with self._lock:
                            self._probes += 1
                    else:
                        self._arrivals[index] = now
        finally:
            consumer.close()
