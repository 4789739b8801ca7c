"""Notebook 12's code exercise: producer settings that lose nothing when a leader is cut off from its peers, and
keep no caller waiting long for the answer.

The check runs the learner's settings through the fault itself: on the notebook's namespaced cluster it writes
numbered records to a fresh topic's partition 0 (led by broker 1, `min.insync.replicas=2`) at about 50 a second
with `Producer({**lab.kafka_config, **settings})`, cuts broker 1 off from its peers for 8 s while clients still
reach it, heals, lets the producer flush, and reads the partition back. Every record the producer was told was
delivered must be in the log, once, and every record's delivery report (delivered or failed) must have come
within REPORT_LIMIT s of its produce(): the notebook's acks=all producer loses nothing but leaves its records
waiting for the whole cut, a buyer's booking unanswered that long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException, Producer

from labkit.cluster.local import LocalCluster
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.partition_lab import seen_by
from labkit.experiments.reading import read_topic
from labkit.polling import wait_until

if TYPE_CHECKING:
    from labkit.lab import Lab

ISOLATION, BEFORE, FLUSH_TIMEOUT = 8.0, 2.0, 120.0
REPORT_LIMIT = 7.0  # s from produce() to the delivery report; librdkafka checks its timeouts about once a second
_QUIET = logging.getLogger("labkit.exercises.partition_safety.librdkafka")  # the cut-off broker's complaints
_QUIET.setLevel(logging.CRITICAL)
_QUIET.addHandler(logging.NullHandler())


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not isinstance(answer, Mapping) or not all(isinstance(k, str) for k in answer):
        return wrong(f"answer with a dict of producer settings, like {{'acks': 'all'}}; got {answer!r:.80}")
    if "bootstrap.servers" in answer:
        return wrong("leave out bootstrap.servers: the check starts from lab.kafka_config, which names the brokers")
    topic, _ = scratch_name(event_id, "safe-producer")
    with scratch_topic(lab, topic, 3, {"min.insync.replicas": "2"}, leaders=[1, 2, 3]):
        try:
            run = _through_the_partition(lab, topic, dict(answer))
        except (KafkaException, ValueError, TypeError) as error:  # librdkafka refused the settings
            return wrong(f"the producer could not be made with your settings: {error}")
        # read through the majority: a client that took its metadata from broker 1 while its view was stale read
        # only up to broker 1's old end (CI: 322 of 423 acks=all records "lost", all of them in the log)
        in_log = [int(r.value) for r in read_topic(_majority(lab, 1), topic, {0: 0})]
    return _verdict(answer, run, in_log)


@dataclass
class _Run:
    """What the check's producer was told: when each record was produced, and each delivery report's wait."""

    produced: dict[int, float] = field(default_factory=dict)  # number → time.monotonic() at produce()
    waited: dict[int, float] = field(default_factory=dict)  # number → s from produce() to its report
    acked: set[int] = field(default_factory=set)
    failed: dict[str, int] = field(default_factory=dict)  # error name → records reported failed
    error: str = ""  # what produce() raised, if it did: the writer stopped there

    def on_delivery(self, error: Any, message: Any) -> None:
        number = int(message.value())
        self.waited[number] = time.monotonic() - self.produced[number]
        if error is None:
            self.acked.add(number)
        else:
            self.failed[error.name()] = self.failed.get(error.name(), 0) + 1


def _through_the_partition(lab: Lab, topic: str, settings: dict[str, Any]) -> _Run:
    """Write numbered records to partition 0 before, during and after broker 1's isolation from its peers."""
    producer = Producer({**lab.kafka_config, **settings, "logger": _QUIET})
    run = _Run()
    stop = threading.Event()

    def write() -> None:
        number = 0
        while not stop.is_set():
            sent = time.monotonic()
            try:
                producer.produce(topic, str(number), partition=0, on_delivery=run.on_delivery)
            except (KafkaException, BufferError) as error:  # e.g. a queue too small for the cut
                run.error = f"{type(error).__name__}: {error}"
                return
            run.produced[number] = sent  # before any report: reports are served by poll() below or flush()
            number += 1
            producer.poll(0)
            stop.wait(0.02)  # the check's pace: about 50 records a second

    thread = threading.Thread(target=write, name="exercise-safe-producer")
    thread.start()
    try:
        stop.wait(BEFORE)  # the check's schedule: writes before the fault
        lab.chaos.isolate(1, "peers", duration=ISOLATION)
        lab.chaos.wait()
        wait_until(lambda: _in_isr(lab, topic, 1), 120, "broker 1 back in the ISR")
    finally:
        stop.set()
        thread.join(30)
        producer.flush(FLUSH_TIMEOUT)
    return run


def _in_isr(lab: Lab, topic: str, broker: int) -> bool:
    """Whether the other brokers list `broker` in partition 0's ISR, and `broker`'s own metadata agrees with
    them: its view is stale until it catches up, and a read that asked it would stop at its old high watermark."""
    seen = seen_by(lab, topic, [b for b in (1, 2, 3) if b != broker]).get(0)
    own = seen_by(lab, topic, [broker]).get(0)
    return seen is not None and broker in seen.isr and own == seen


def _majority(lab: Lab, isolated: int) -> str:
    """The bootstrap servers of every broker but the one that was cut off."""
    state = LocalCluster(lab.settings.home).namespaced_state()
    return ",".join(b.address for b in state.brokers if b.node_id != isolated)


def _verdict(answer: Mapping[str, Any], run: _Run, in_log: list[int]) -> Verdict:
    acked, written = run.acked, len(run.produced)
    if run.error:
        return wrong(f"produce() raised {run.error} after {written} records; the check's writer stopped there")
    kept = set(in_log)
    lost = sorted(acked - kept)
    if not acked:
        return wrong(f"none of the {written} records was acknowledged: the producer never delivered anything")
    if lost:
        return wrong(
            f"{len(lost)} of the {len(acked)} records your producer was told were delivered are not in the log "
            f"(numbers {lost[:5]}{' …' if len(lost) > 5 else ''}), with acks={answer.get('acks', 'all')!r}. The "
            "cut-off leader confirmed them alone, and truncated them when it came back: only a leader that waits "
            "for its in-sync replicas (acks=all) confirms what survives its own loss."
        )
    unreported = written - len(run.waited)
    longest = max(run.waited.values(), default=0.0)
    if unreported:
        return wrong(
            f"nothing acknowledged was lost, but {unreported} of the {written} records had no delivery report "
            f"when the check's flush gave up after {FLUSH_TIMEOUT:g} s: every record needs a report, delivered or "
            "failed, and soon"
        )
    if longest > REPORT_LIMIT:
        return wrong(
            f"nothing acknowledged was lost, but a record waited {longest:.1f} s for its delivery report, and at "
            f"most {REPORT_LIMIT:g} s is asked (the leader was cut off for {ISOLATION:g} s). Which setting bounds "
            "the time from produce() to the report, delivered or failed?"
        )
    repeated = len(in_log) - len(kept)
    if repeated:
        return wrong(
            f"nothing acknowledged was lost, but {repeated} records are in the log twice: a retry after a timeout "
            "wrote again what had arrived. enable.idempotence lets the new leader recognise a retried record."
        )
    failed = ", ".join(f"{count} {name}" for name, count in sorted(run.failed.items()))
    held = (
        f"the records it held failed at your deadline ({failed}), and said so; the rest went to the new leader. "
        "A failure reported is not a loss, but a record that timed out in flight may still have been written: "
        "resend it only where a duplicate is harmless (an idempotent handler)."
        if failed
        else "your producer's records waited for the new leader, within your bound."
    )
    return correct(
        f"All {len(acked)} acknowledged records are in the log, once each ({written} written), and every record "
        f"had its report within {longest:.1f} s. While broker 1 could not reach its followers it confirmed "
        f"nothing: {held}"
    )


def _reference() -> dict[str, Any]:
    return {
        "acks": "all",  # confirmed only once every in-sync replica has it (with min.insync.replicas=2: two)
        "enable.idempotence": True,  # a retried record is recognised, never written twice
        "delivery.timeout.ms": 4000,  # produce() to report at most 4 s (+ librdkafka's scan, 1 s apart): then it fails
    }


safe_producer = Exercise(
    key="12.safe_producer",
    notebook="12_partitions_and_pauses",
    title=f"producer settings that lose nothing when a leader is cut off, and answer within {REPORT_LIMIT:g} s",
    statement=(
        "Give the producer settings (a dict, without bootstrap.servers) under which no record the producer is told "
        "was delivered is lost when the partition's leader is cut off from its peers, none is written twice, and "
        f"every record's delivery report (delivered or failed) comes within {REPORT_LIMIT:g} s of its produce(). "
        "The check writes numbered records to partition 0 with your settings, cuts broker 1 (its leader) off "
        f"from brokers 2 and 3 for {ISOLATION:g} s while clients still reach it, heals, and compares what was "
        "acknowledged with the log."
    ),
    hints=(
        "the notebook's acks=all producer lost nothing, but some of its records waited about 10 s for a report; "
        "which producer setting is a deadline for each record, from produce() to its report?",
        "delivery.timeout.ms (librdkafka: message.timeout.ms, 300000 by default) fails a record that is not "
        "delivered in time; librdkafka checks it about once a second, so leave a couple of seconds for that",
        "{'acks': 'all', 'enable.idempotence': True, 'delivery.timeout.ms': 4000}",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (safe_producer,)
