"""Waiting out the brokers' busy spell after topics come or go, so that an experiment does not start inside it.

Creating an event's topics makes every broker create a log per partition replica (≈ 300 per broker for an event
of 100 subsections): file creation, index files, a metrics group each, on the brokers' metadata thread. On this
2-core machine that keeps the brokers' CPU saturated for seconds, and a round trip through the cluster meanwhile
took seconds instead of tens of ms (README, "Why these settings"). Deleting topics does the same in reverse.

The probe asks the brokers for the log-end offset of every partition of the topics (ListOffsets, answered by
each partition's leader from its log): a partition whose log does not exist yet answers with an error, and
brokers whose request handlers are queued up answer late. The cluster counts as settled after `in_a_row`
probes each answered completely within `quick_ms`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

log = logging.getLogger(__name__)

QUICK_MS = 100.0  # a probe of ~300 partitions answered within this counts as quick (≈ 10–30 ms when idle)
IN_A_ROW = 3
SETTLE_TIMEOUT = 30.0
PROBE_INTERVAL = 0.25  # between probes: each one itself is a request to every broker


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


def probe_ms(admin: AdminClient, partitions: list[TopicPartition], timeout: float) -> float:
    """Milliseconds until every partition's log-end offset was answered; inf on an error or no answer."""
    began = time.monotonic()
    try:
        futures = admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions}, request_timeout=timeout)
        for future in futures.values():
            future.result(timeout=timeout)
    except (KafkaException, TimeoutError):
        return float("inf")
    return (time.monotonic() - began) * 1000


def wait_until_responsive(
    admin: AdminClient,
    partitions: list[TopicPartition],
    quick_ms: float = QUICK_MS,
    in_a_row: int = IN_A_ROW,
    timeout: float = SETTLE_TIMEOUT,
) -> Settling:
    """Probe until `in_a_row` probes in a row were quick, or `timeout` s passed (then settled=False: the caller
    goes on, the brokers are only slow, not broken). Returns how it went, for the caller to report."""
    began = time.monotonic()
    quick = probes = 0
    slowest = 0.0
    while quick < in_a_row:
        left = timeout - (time.monotonic() - began)
        if left <= 0:
            break
        took = probe_ms(admin, partitions, timeout=max(1.0, min(left, 10.0)))
        probes += 1
        slowest = max(slowest, took)
        quick = quick + 1 if took <= quick_ms else 0
        if quick < in_a_row:
            time.sleep(PROBE_INTERVAL)  # the probe's own pace, not synchronisation: each probe is the condition
    settling = Settling(time.monotonic() - began, probes, quick >= in_a_row, slowest)
    log.info("after the topic change the brokers %s", settling)
    return settling
