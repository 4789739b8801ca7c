"""Notebook 09's code exercise: a transactional forwarder that a crash cannot make lose or repeat a record.

The check writes 60 numbered records to a fresh topic of 2 partitions and runs the learner's
`forward(consumer_config, producer_config, source, target, process)` in a process of its own (`learner_process`).
It SIGKILLs the process while `process` handles record 25 — inside a transaction, after some of its records were
written — starts it again, and reads the target from the brokers with `read_committed` (what downstream consumers
see) and `read_uncommitted` (what the log holds): each input once in the first, nothing lost; the crash's
open transaction aborted in the second.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, Producer

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.learner_process import LearnerProcess, crash_while_held
from labkit.exercises.scratch import scratch_name, scratch_topic, write_numbered
from labkit.experiments.reading import log_ranges, read_topic
from labkit.kafka.groups import describe_group
from labkit.polling import poll

if TYPE_CHECKING:
    from labkit.lab import Lab

RECORDS, PARTITIONS, HOLD_AT = 60, 2, 25
START_TIMEOUT = 60.0  # s for the first run to reach record HOLD_AT (a fresh process, a group to join)
CRASH_AFTER = 1.0  # s into process(): the records produced before it have been sent by then
RESTART_TIMEOUT = 45.0  # s for the second run: the dead member's partitions move after its session (2.5 s here)


def _configs(lab: Lab, group: str) -> tuple[dict[str, Any], dict[str, Any]]:
    consumer = {
        "bootstrap.servers": lab.bootstrap_servers,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
    }
    return consumer, {"bootstrap.servers": lab.bootstrap_servers, "transactional.id": f"{group}-forwarder"}


def _group_committed(lab: Lab, group: str, topic: str) -> int:
    """How many input records the group has committed past, over every partition of `topic`."""
    return sum(p.committed or 0 for p in describe_group(lab.admin, group).partitions if p.topic == topic)


def _runs(answer: Callable[..., Any], lab: Lab, arguments: list[Any], work: Path) -> str | None:
    """The crash, then the restart until the group committed every input record: None, or what went wrong."""
    _, problem = crash_while_held(answer, arguments, work, HOLD_AT, START_TIMEOUT, CRASH_AFTER)
    if problem:
        return problem
    source, group = arguments[2], arguments[0]["group.id"]
    second = LearnerProcess.start(answer, arguments, work, "second")
    try:
        poll(
            lambda: second.exit_code() is not None or _group_committed(lab, group, source) >= RECORDS,
            RESTART_TIMEOUT,
            interval=0.5,
        )
        if second.exit_code() not in (None, 0):
            return f"the restarted function raised (exit code {second.exit_code()}):\n{second.errors()}"
        return None
    finally:
        second.kill()


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with forward(consumer_config, producer_config, source, target, process), got {answer!r}")
    source, group = scratch_name(event_id, "txn-in")
    target, _ = scratch_name(event_id, "txn-out")
    consumer_config, producer_config = _configs(lab, group)
    with (
        scratch_topic(lab, source, PARTITIONS),
        scratch_topic(lab, target, PARTITIONS),
        tempfile.TemporaryDirectory(prefix="labkit-exercise-") as folder,
    ):
        write_numbered(lab, source, RECORDS, PARTITIONS)
        problem = _runs(answer, lab, [consumer_config, producer_config, source, target], Path(folder))
        if problem:
            return wrong(problem)
        committed = [r.value.decode() for r in read_topic(lab.bootstrap_servers, target, isolation="read_committed")]
        everything = read_topic(lab.bootstrap_servers, target, isolation="read_uncommitted")
        log_end = sum(r.end for r in log_ranges(lab.bootstrap_servers, target, isolation="read_uncommitted").values())
    return _verdict(Counter(committed), len(everything), markers=log_end - len(everything))


def _verdict(committed: Counter[str], everything: int, markers: int) -> Verdict:
    lost = sorted(i for i in range(RECORDS) if str(i) not in committed)
    repeated = sorted(int(v) for v, n in committed.items() if n > 1)
    aborted = everything - sum(committed.values())
    if lost:
        return wrong(
            f"records {lost[:8]} never reached the committed output: the input offsets were committed before "
            "the records written for them. Commit them only inside the transaction that writes the output."
        )
    if repeated and not markers:
        return wrong(
            f"records {repeated[:8]} are in the output twice, and the log holds no transaction markers: the "
            "producer wrote outside transactions, so what it wrote before the crash stayed, and the restart wrote "
            "it again. Give the producer its transactional.id and wrap each batch in begin_transaction() … "
            "commit_transaction()."
        )
    if repeated:
        return wrong(
            f"records {repeated[:8]} are in the committed output twice: the input offsets were not part of the "
            "transaction, so a transaction committed without its offsets (or offsets lagged behind the output). "
            "Call producer.send_offsets_to_transaction(consumer.position(consumer.assignment()), "
            "consumer.consumer_group_metadata()) before commit_transaction(), and never consumer.commit()."
        )
    if not markers:
        return wrong(
            "nothing lost or repeated this time, but the output holds no transaction markers: the producer wrote "
            "outside transactions, and a crash between a write and its offset commit would repeat the write. "
            "Use transactions: init_transactions(), then begin_transaction() … commit_transaction() per batch."
        )
    return correct(
        f"All {RECORDS} records once each in the read_committed output, none lost. The log also holds {aborted} "
        f"record(s) of the transaction the crash left open, aborted when the restart called init_transactions() "
        f"with the same transactional.id (read_uncommitted returns them), and {markers} commit or abort markers."
    )


def _reference(
    consumer_config: dict[str, Any],
    producer_config: dict[str, Any],
    source: str,
    target: str,
    process: Callable[[Any], None],
) -> None:
    consumer = Consumer({**consumer_config, "enable.auto.commit": False, "isolation.level": "read_committed"})
    producer = Producer(producer_config)  # with its transactional.id
    producer.init_transactions(30)  # aborts what an earlier instance with this id left open, and fences it
    consumer.subscribe([source])
    try:
        while True:
            batch: list[Any] = [m for m in consumer.consume(50, timeout=1.0) if not m.error()]
            if not batch:
                continue
            producer.begin_transaction()
            for message in batch:
                process(message)
                producer.produce(target, value=message.value(), key=message.key(), partition=message.partition())
            offsets = consumer.position(consumer.assignment())  # the next offset to read, per partition
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)  # the output and the input offsets, together or not at all
    finally:
        consumer.close()


transactional_forwarder = Exercise(
    key="09.transactional_forwarder",
    notebook="09_exactly_once",
    title="a forwarder that a crash can make neither lose nor repeat a record",
    statement=(
        "Write `forward(consumer_config, producer_config, source, target, process)`: a Consumer built from "
        "`consumer_config` (it names the group) subscribed to `source`, a Producer built from `producer_config` (it "
        "holds a transactional.id), and a loop for ever that calls `process(message)` for each record read and "
        "then writes its value to the same partition of `target`, such that a crash at any moment leaves the "
        f"read_committed output with every record exactly once. The check runs your function in a process of its "
        f"own on a fresh topic of {RECORDS} records, SIGKILLs it while process() handles record {HOLD_AT}, starts it "
        "again and reads `target`. Consumer, Producer, TopicPartition, KafkaError, KafkaException, json and time "
        "are given; import anything else inside the function."
    ),
    hints=(
        "producer.init_transactions() once; then per batch begin_transaction(), produce(…), commit_transaction()",
        "the input offsets go into the same transaction: producer.send_offsets_to_transaction(offsets, "
        "consumer.consumer_group_metadata()) before commit_transaction(); turn enable.auto.commit off",
        "the offsets to send are the next ones to read: consumer.position(consumer.assignment())",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (transactional_forwarder,)
