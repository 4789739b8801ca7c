"""Delivery guarantees as an experiment (notebook 06): numbered writes with a chosen `acks`, and what the log kept.

A NumberedWriter sends the numbers 0, 1, 2 … as record values, open loop at a steady rate, and keeps what each
delivery report told it: delivered (with the latency from the *scheduled* send) or failed (with the error).
Read the topic back (`labkit.experiments.reading.read_topic`) and `compare` says, per writer, what was lost (reported
delivered, not in the log), written twice, or refused.

- acks=0: the producer is told "delivered" once the request is on the socket; the broker never answers.
- acks=1: once the partition leader has the record in its log; the followers may not have it yet.
- acks=all: once every replica in the ISR has it (and only while the ISR holds at least
  `min.insync.replicas`); with the idempotent producer a retried batch is never written twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from labkit.checks import is_int, is_number
from labkit.errors import ConfigError, WaitTimeout
from labkit.experiments.reading import LogRecord
from labkit.kafka.clients import base_config
from labkit.measurement.latency_stats import LatencySummary, summarize_latency

Acks = Literal["0", "1", "all"]
ACKS: tuple[Acks, ...] = ("0", "1", "all")


def producer_config(bootstrap_servers: str, acks: Acks, client_id: str, **overrides: object) -> dict[str, object]:
    """A plain producer with `acks`: idempotent only with acks=all (Kafka requires it), the same small linger for
    each, so that they differ only in what they wait for."""
    if acks not in ACKS:
        raise ConfigError(f"acks must be one of {', '.join(ACKS)}, got {acks!r}")
    return base_config(
        bootstrap_servers,
        client_id,
        acks=acks,
        enable_idempotence=acks == "all",
        linger_ms=1,
        compression_type="none",
        **overrides,
    )


@dataclass
class WriteReport:
    """What one writer sent and what its delivery reports told it. `scheduled_ms[n]` is when number n was due,
    `sent_ms[n]` when it was handed to the producer, `delivered_ms[n]` when its report said delivered (None: not,
    or not yet); epoch milliseconds."""

    acks: Acks
    topic: str
    scheduled_ms: list[float] = field(default_factory=list)
    sent_ms: list[float] = field(default_factory=list)
    delivered_ms: list[float | None] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # number → the error's name

    @property
    def sent(self) -> int:
        return len(self.scheduled_ms)

    @property
    def delivered(self) -> set[int]:
        return {n for n, at in enumerate(self.delivered_ms) if at is not None}

    def since(self, seconds: float) -> WriteReport:
        """The same report without the records scheduled in the first `seconds` (say, a producer's start), for
        latency figures: the records kept are numbered from 0 again."""
        if not self.scheduled_ms:
            return self
        cut = self.scheduled_ms[0] + seconds * 1000
        keep = [n for n, at in enumerate(self.scheduled_ms) if at >= cut]
        return WriteReport(
            self.acks,
            self.topic,
            [self.scheduled_ms[n] for n in keep],
            [self.sent_ms[n] for n in keep],
            [self.delivered_ms[n] for n in keep],
            {new: self.failed[old] for new, old in enumerate(keep) if old in self.failed},
        )

    def latency(self) -> LatencySummary:
        """p50 / p99 from each scheduled send to its delivery report (an undelivered one counts as infinite)."""
        return summarize_latency(None, self.scheduled_ms, self.delivered_ms)


class NumberedWriter:
    """Writes `count` records (values "first", "first + 1", …) to `topic` at `rate` per second from a thread of its
    own; the report numbers them from 0."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        acks: Acks,
        rate: float,
        count: int,
        partition: int | None = None,
        first: int = 0,
        **overrides: object,
    ) -> None:
        if not is_number(rate) or rate <= 0:
            raise ConfigError(f"rate must be a positive number of records per second, got {rate!r}")
        if not is_int(count) or count < 1:
            raise ConfigError(f"count must be a positive integer, got {count!r}")
        self.report = WriteReport(acks, topic)
        self._config = producer_config(bootstrap_servers, acks, f"labkit-writer-acks-{acks}", **overrides)
        if not is_int(first) or first < 0:
            raise ConfigError(f"first must be a non-negative integer, got {first!r}")
        self._rate, self._count, self._partition, self._first = rate, count, partition, first
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"labkit-writer-acks-{acks}", daemon=True)
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> NumberedWriter:
        self._thread.start()
        return self

    @property
    def written(self) -> int:
        """How many numbers have been handed to the producer so far."""
        return self.report.sent

    def join(self, timeout: float) -> WriteReport:
        """Wait until every number is sent and every delivery report is in (or `timeout` s); the report."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(10)
            raise WaitTimeout(f"acks={self.report.acks}: {self.written} of {self._count} sent after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.report

    def _run(self) -> None:
        producer = Producer(self._config)
        try:
            first = time.time() * 1000
            for number in range(self._count):
                due = first + number * 1000 / self._rate
                while not self._stop.is_set() and time.time() * 1000 < due:
                    producer.poll(max(0.0, min(0.05, (due - time.time() * 1000) / 1000)))
                if self._stop.is_set():
                    return
                with self._lock:
                    self.report.scheduled_ms.append(due)
                    self.report.sent_ms.append(time.time() * 1000)
                    self.report.delivered_ms.append(None)
                self._produce(producer, number)
            while not self._stop.is_set() and producer.flush(0.1):
                pass
        except BaseException as error:  # handed to join()
            self.error = error
        finally:
            producer.flush(1)

    def _produce(self, producer: Producer, number: int) -> None:
        kwargs: dict[str, Any] = {"on_delivery": lambda e, m: self._delivered(number, e, m)}
        if self._partition is not None:
            kwargs["partition"] = self._partition
        while True:
            try:
                producer.produce(self.report.topic, str(self._first + number).encode(), **kwargs)
                producer.poll(0)
                return
            except BufferError:
                producer.poll(0.05)
            except KafkaException as error:
                self.report.failed[number] = error.args[0].name()
                return

    def _delivered(self, number: int, error: KafkaError | None, message: Message) -> None:
        with self._lock:
            if error is None:
                self.report.delivered_ms[number] = time.time() * 1000
            else:
                self.report.failed[number] = error.name()


def numbers_in_log(records: Iterable[LogRecord]) -> Counter[int]:
    """How often each number stands in the log (values written by a NumberedWriter)."""
    return Counter(int(r.value) for r in records)


def compare(report: WriteReport, in_log: Counter[int]) -> dict[str, object]:
    """One writer's reports against the log: told delivered, in the log, lost (told delivered, not in the log),
    written twice, refused (told failed), and in the log although not told delivered."""
    delivered = report.delivered
    return {
        "acks": report.acks,
        "sent": report.sent,
        "told delivered": len(delivered),
        "in the log": len(in_log),
        "lost": len(delivered - set(in_log)),
        "written twice": sum(c - 1 for c in in_log.values() if c > 1),
        "told failed": len(report.failed),
        "kept, not told": len(set(in_log) - delivered),
    }


def outcome_table(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """compare()'s rows as one frame, a row per acks."""
    return pd.DataFrame(list(rows)).set_index("acks")


def latency_table(reports: Sequence[WriteReport]) -> pd.DataFrame:
    """p50 / p99 / max ms of each writer from scheduled send to delivery report, a row per acks."""
    rows = []
    for report in reports:
        summary = report.latency()
        rows.append(
            {
                "acks": report.acks,
                "records": report.sent,
                "p50_ms": round(summary.p50_ms, 1),
                "p99_ms": round(summary.p99_ms, 1),
                "max_ms": round(summary.max_ms, 1),
            }
        )
    return pd.DataFrame(rows).set_index("acks")
