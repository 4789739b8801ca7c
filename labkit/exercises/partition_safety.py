"""Notebook 12's code exercise: producer settings that lose nothing when a leader is cut off from its peers.

The check runs the learner's settings through the fault itself: on the notebook's namespaced cluster it writes
numbered records to a fresh topic's partition 0 (led by broker 1, `min.insync.replicas=2`) at about 50 a second
with `Producer({**lab.kafka_config, **settings})`, cuts broker 1 off from its peers for 8 s while clients still
reach it, heals, lets the producer flush, and reads the partition back. Every record the producer was told was
delivered must be in the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException, Producer

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.partition_lab import seen_by
from labkit.experiments.reading import read_topic
from labkit.polling import wait_until

if TYPE_CHECKING:
    from labkit.lab import Lab

ISOLATION, BEFORE, FLUSH_TIMEOUT = 8.0, 2.0, 120.0
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
            acked, numbers = _through_the_partition(lab, topic, dict(answer))
        except (KafkaException, ValueError, TypeError) as error:  # librdkafka refused the settings
            return wrong(f"the producer could not be made with your settings: {error}")
        in_log = [int(r.value) for r in read_topic(lab.bootstrap_servers, topic, {0: 0})]
    return _verdict(answer, acked, numbers, in_log)


def _through_the_partition(lab: Lab, topic: str, settings: dict[str, Any]) -> tuple[set[int], int]:
    """Write numbered records to partition 0 before, during and after broker 1's isolation from its peers.
    Returns the numbers acknowledged and how many were written."""
    producer = Producer({**lab.kafka_config, **settings, "logger": _QUIET})
    acked: set[int] = set()
    stop = threading.Event()

    def on_delivery(error: Any, message: Any) -> None:
        if error is None:
            acked.add(int(message.value()))

    written = 0

    def write() -> None:
        nonlocal written
        while not stop.is_set():
            producer.produce(topic, str(written), partition=0, on_delivery=on_delivery)
            written += 1
            producer.poll(0)
            stop.wait(0.02)  # the check's pace: about 50 records a second

    thread = threading.Thread(target=write, name="exercise-safe-producer")
    thread.start()
    try:
        stop.wait(BEFORE)  # the check's schedule: writes before the fault
        lab.chaos.isolate(1, "peers", duration=ISOLATION)
        lab.chaos.wait()
        wait_until(lambda: 1 in seen_by(lab, topic, [1, 2, 3]).get(0, _NO_ISR).isr, 120, "broker 1 back in the ISR")
    finally:
        stop.set()
        thread.join(30)
        producer.flush(FLUSH_TIMEOUT)
    return acked, written


class _NoIsr:
    isr: tuple[int, ...] = ()


_NO_ISR = _NoIsr()


def _verdict(answer: Mapping[str, Any], acked: set[int], written: int, in_log: list[int]) -> Verdict:
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
    repeated = len(in_log) - len(kept)
    if repeated:
        return wrong(
            f"nothing acknowledged was lost, but {repeated} records are in the log twice: a retry after a timeout "
            "wrote again what had arrived. enable.idempotence lets the new leader recognise a retried record."
        )
    return correct(
        f"All {len(acked)} acknowledged records are in the log, once each ({written} written). While broker 1 "
        "could not reach its followers it confirmed nothing; your producer retried against the new leader, and "
        "idempotence kept every retried record from being written twice."
    )


def _reference() -> dict[str, Any]:
    return {
        "acks": "all",  # confirmed only once every in-sync replica has it (with min.insync.replicas=2: two)
        "enable.idempotence": True,  # a retried record is recognised, never written twice
    }


safe_producer = Exercise(
    key="12.safe_producer",
    notebook="12_partitions_and_pauses",
    title="producer settings that lose nothing when a leader is cut off",
    statement=(
        "Give the producer settings (a dict, without bootstrap.servers) under which no record the producer is told "
        "was delivered is lost when the partition's leader is cut off from its peers. The check writes numbered "
        "records to partition 0 with your settings, cuts broker 1 (its leader) off from brokers 2 and 3 for "
        f"{ISOLATION:g} s while clients still reach it, heals, and compares what was acknowledged with the log."
    ),
    hints=(
        "which acks setting confirmed records that the other replicas never had?",
        "acks='all' waits for the in-sync replicas; what keeps a retried record from being written twice?",
        "{'acks': 'all', 'enable.idempotence': True}",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (safe_producer,)
