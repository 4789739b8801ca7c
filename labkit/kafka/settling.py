"""Waiting out the brokers' busy spell after topics come or go, so that an experiment does not start inside it.

Creating an event's topics makes every broker create a log per partition replica (≈ 300 per broker for an event
of 100 subsections: files, index files, a metrics group each, on the broker's metadata thread), and the replica
fetchers rebuild their fetch sessions. On this 2-core machine that saturates the brokers' CPU, and a plain
round trip started meanwhile waited seconds per message for 12–16 s (docs/benchmark.md, "Why these settings").

The probe is what a booking waits for: one small record produced with acks=all to a partition of a topic of
its own (`PROBE_TOPIC`, 1 partition, replicated like the events' topics, created on first use), timed until the
leader confirms that every in-sync replica has it. Asking for metadata or offsets is not enough: those were
answered in milliseconds while replication still lagged by seconds. The cluster counts as settled after
`in_a_row` probes each confirmed within `quick_ms`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import NewTopic

from labkit.errors import ClusterError
from labkit.kafka.admin import Admin, failed_with
from labkit.kafka.clients import connection_config

log = logging.getLogger(__name__)

# Named like Kafka's internal topics so that topic listings, partition budgets and resets leave it out, as they
# leave out __consumer_offsets: it is the lab's instrument, not part of an experiment.
PROBE_TOPIC = "__labkit-probe"
QUICK_MS = 50.0  # one acks=all produce confirmed within this counts as quick (≈ 5–15 ms on an idle cluster)
IN_A_ROW = 5
SETTLE_TIMEOUT = 30.0
PROBE_INTERVAL = 0.2  # between probes: the probe's pace, each one is the condition


@dataclass(frozen=True)
class Settling:
    """How a wait for quick answers went: its length, the probes sent, whether they became quick in time."""

    seconds: float
    probes: int
    settled: bool
    slowest_ms: float  # the slowest probe (inf for one that failed or got no answer)

    def __str__(self) -> str:
        outcome = "settled" if self.settled else "still slow"
        return f"{outcome} after {self.seconds:.1f} s ({self.probes} probes, slowest {self.slowest_ms:,.0f} ms)"


def ensure_probe_topic(admin: Admin, replication: int) -> None:
    """Create PROBE_TOPIC (1 partition) unless it exists."""
    if PROBE_TOPIC in admin.metadata().topics:
        return
    for future in admin.client.create_topics([NewTopic(PROBE_TOPIC, 1, replication)]).values():
        try:
            admin.result(future, f"creating {PROBE_TOPIC}")
        except ClusterError as exc:
            if not failed_with(exc, KafkaError.TOPIC_ALREADY_EXISTS):
                raise


def probe_ms(producer: Producer, timeout: float) -> float:
    """Milliseconds until one acks=all record to PROBE_TOPIC was confirmed; inf on an error or no answer."""
    outcome: list[Any] = []
    began = time.monotonic()
    producer.produce(PROBE_TOPIC, b"probe", partition=0, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(timeout)
    took = (time.monotonic() - began) * 1000
    return took if outcome and outcome[0] is None else float("inf")


def wait_until_responsive(
    admin: Admin,
    replication: int,
    quick_ms: float = QUICK_MS,
    in_a_row: int = IN_A_ROW,
    timeout: float = SETTLE_TIMEOUT,
) -> Settling:
    """Probe until `in_a_row` probes in a row were quick, or `timeout` s passed (then settled=False: the caller
    goes on, the brokers are only slow, not broken). Returns how it went, for the caller to report."""
    began = time.monotonic()
    ensure_probe_topic(admin, replication)
    producer = Producer(
        {
            **connection_config(admin.bootstrap_servers),
            "acks": "all",
            "linger.ms": 0,
            "socket.nagle.disable": True,
            "message.timeout.ms": int(timeout * 1000),
            "logger": log,
        }
    )
    quick = probes = 0
    slowest = 0.0
    try:
        while quick < in_a_row:
            left = timeout - (time.monotonic() - began)
            if left <= 0:
                break
            took = probe_ms(producer, timeout=max(1.0, left))
            probes += 1
            slowest = max(slowest, took)
            quick = quick + 1 if took <= quick_ms else 0
            if quick < in_a_row:
                time.sleep(PROBE_INTERVAL)
    finally:
        producer.flush(1)
    settling = Settling(time.monotonic() - began, probes, quick >= in_a_row, slowest)
    log.info("after the topic change the brokers %s", settling)
    return settling
