"""Notebook 09's code exercise: a transactional forwarder that a crash cannot make lose or repeat a record.

The check writes 60 numbered records to a fresh topic of 2 partitions and runs the learner's
`forward(consumer_config, producer_config, source, target, process)` in a process of its own (`learner_process`).
It SIGKILLs the process while `process` handles its 25th record — inside a transaction, after some records were
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
from labkit.exercises.learner_process import crash_while_held, run_until
from labkit.exercises.scratch import (
    committed_offsets,
    group_config,
    restart_timeout,
    scratch_name,
    scratch_topic,
    write_numbered,
)
from labkit.experiments.reading import log_ranges, read_topic
from labkit.polling import poll

if TYPE_CHECKING:
    from labkit.lab import Lab

RECORDS, PARTITIONS, HOLD_AT = 60, 2, 25
SETTLE_TIMEOUT = 10.0  # s for the target's last stable offset to reach its end once the input is committed


def _configs(lab: Lab, group: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The consumer's (a group, auto-commit ticking every 200 ms if left on) and the producer's (an id that stays)."""
    return group_config(lab, group), {**lab.kafka_config, "transactional.id": f"{group}-fw"}


def _runs(answer: Callable[..., Any], lab: Lab, arguments: list[Any], work: Path) -> str | None:
    """The crash, then the restart until the group committed every input record: None, or what went wrong."""
    _, problem = crash_while_held(answer, arguments, work, HOLD_AT)
    if problem:
        return problem
    source, group = arguments[2], arguments[0]["group.id"]
    finished = lambda: sum(committed_offsets(lab, group, source).values()) >= RECORDS  # noqa: E731
    return run_until(answer, arguments, work, "second", finished, restart_timeout(lab)).failure() or None


def _settled(lab: Lab, topic: str) -> bool:
    """No transaction open on `topic`: its last stable offset (read_committed's end) is its high watermark."""
    stable = log_ranges(lab.bootstrap_servers, topic, isolation="read_committed")
    written = log_ranges(lab.bootstrap_servers, topic, isolation="read_uncommitted")
    return all(stable[p].end == written[p].end for p in written)


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
        if not poll(lambda: _settled(lab, target), SETTLE_TIMEOUT, interval=0.5):
            return wrong(
                f"a transaction was still open on the target {SETTLE_TIMEOUT:.0f} s after the restart had committed "
                "every input record: read_committed readers wait at its first record. A crashed instance's "
                "transaction is aborted by init_transactions() of the next one with the same transactional.id; "
                "with another id it stays open until transaction.timeout.ms (60 s). Keep the id from producer_config."
            )
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
            # (a real forwarder also catches KafkaException here: if error.txn_requires_abort(), abort_transaction()
            # and seek back to the committed offsets; a fatal error, such as being fenced, ends the producer)
    finally:
        consumer.close()


transactional_forwarder = Exercise(
    key="09.transactional_forwarder",
    notebook="09_exactly_once",
    title="a forwarder that a crash can make neither lose nor repeat a record",
    statement=(
        "Write `forward(consumer_config, producer_config, source, target, process)`: a Consumer built from "
        "`consumer_config` (it names the group) subscribed to `source`, a Producer built from `producer_config` (it "
        "holds a transactional.id; `consumer_config` holds the group, auto.offset.reset=earliest, and nothing about "
        "commits), and a loop for ever that calls `process(message)` for each record read and "
        "then writes its value to the same partition of `target`, such that a crash at any moment leaves the "
        f"read_committed output with every record exactly once. The check runs your function in a process of its "
        f"own on a fresh topic of {RECORDS} records, SIGKILLs it while process() handles its {HOLD_AT}th record, "
        "starts it again and reads `target`. Your function runs in a fresh Python: Consumer, Producer, "
        "TopicPartition, KafkaError, KafkaException, json and time are given; import anything else inside it."
    ),
    hints=(
        "per batch: begin_transaction(), produce(…), then send_offsets_to_transaction(offsets, "
        "consumer.consumer_group_metadata()) and commit_transaction(); init_transactions() once at the start",
        "the input offsets go into the transaction, never through consumer.commit(): turn enable.auto.commit off",
        "the offsets to send are the next ones to read: consumer.position(consumer.assignment())",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (transactional_forwarder,)
