"""Notebook 10's code exercise: a table from a changelog — each booking's latest status, read from a keyed topic
whose records are status changes and whose tombstones delete a booking.

The check writes 24 status changes for 10 bookings (two of them then deleted by a tombstone) to a fresh compacted
topic of 3 partitions, keyed by booking id, calls the learner's `latest_statuses(config, topic)` and compares the
table it returns with the changes. The function runs in a process of its own (`learner_process`), so that one
that never returns is stopped instead of holding the kernel.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, TopicPartition

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.learner_process import run_until
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.keyed import KeyedRecord, write_records

if TYPE_CHECKING:
    from labkit.lab import Lab

PARTITIONS = 3
RUN_TIMEOUT = 30.0  # s for the function to return
DELETED = ("b-3", "b-7")
CANCELLED = ("b-5",)


def _changes() -> list[tuple[str, str | None]]:
    """(booking id, status; None: a tombstone) in the order they happened: every booking PENDING, then its
    outcome; b-5 cancelled after; b-3 and b-7 deleted."""
    bookings = [f"b-{i}" for i in range(10)]
    changes: list[tuple[str, str | None]] = [(b, "PENDING") for b in bookings]
    changes += [(b, "FAILED" if i % 4 == 2 else "RESERVED") for i, b in enumerate(bookings)]
    changes += [(b, "CANCELLED") for b in CANCELLED] + [(b, None) for b in DELETED]
    return changes


def _truth() -> dict[str, str]:
    latest: dict[str, str | None] = {}
    for booking, status in _changes():
        latest[booking] = status
    return {b: s for b, s in latest.items() if s is not None}


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function latest_statuses(config, topic), got {answer!r}")
    topic, group = scratch_name(event_id, "statuses")
    config = {**lab.kafka_config, "group.id": group}
    with (
        scratch_topic(lab, topic, PARTITIONS, {"cleanup.policy": "compact"}),
        tempfile.TemporaryDirectory(prefix="labkit-exercise-") as folder,
    ):
        records = [KeyedRecord(b, None if s is None else s.encode()) for b, s in _changes()]
        write_records(lab.bootstrap_servers, topic, records)  # keyed: each booking's changes in one partition
        ran = run_until(answer, [config, topic], Path(folder), "table", lambda: False, RUN_TIMEOUT, returns=True)
    if ran.exit_code is None:
        return wrong(
            f"your function had not returned after {RUN_TIMEOUT:.0f} s: stop at each partition's end offset — and a "
            "partition whose start equals its end is empty: there is nothing to wait for there"
        )
    if ran.raised:
        return wrong(ran.failure("your function"))
    if not isinstance(ran.result, dict):
        return wrong(f"return a dict {{booking id: status}}, got {ran.result!r:.80}")
    return _verdict(ran.result)


def _verdict(table: dict[str, Any]) -> Verdict:
    truth = _truth()
    problems = []
    if kept := sorted(b for b in DELETED if b in table):
        problems.append(
            f"{kept} are in your table ({', '.join(repr(table[b]) for b in kept)}): their last record is a "
            "tombstone (a key with no value, msg.value() is None), which deletes the key"
        )
    if missing := sorted(set(truth) - set(table)):
        problems.append(f"{missing} are missing: read every partition from its start to its end")
    for booking, status in sorted(truth.items()):
        if booking in table and table[booking] != status:
            stale = table[booking] == "PENDING"
            first = " — the first status, not the latest: a later record of a key replaces it" if stale else ""
            problems.append(f"{booking}: its latest status is {status}, you have {table[booking]!r}{first}")
    if problems:
        return wrong(*problems)
    return correct(
        f"{len(truth)} bookings, each with its latest status ({CANCELLED[0]} {truth[CANCELLED[0]]}), and the "
        f"{len(DELETED)} deleted by a tombstone gone: the table a compacted topic stands for, rebuilt by reading it "
        "to the end. Compaction only removes records that such a reading would overwrite anyway."
    )


def _reference(config: dict[str, Any], topic: str) -> dict[str, str]:
    consumer = Consumer({**config, "enable.auto.commit": False})  # assign() joins no group; commit nothing either
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        starts, ends = {}, {}
        for p in partitions:
            starts[p], ends[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        todo = {p for p in partitions if starts[p] < ends[p]}
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in todo])
        table: dict[str, str] = {}
        while todo:
            message: Any = consumer.poll(1.0)
            if message is None or message.error():
                continue
            key = message.key().decode()
            if message.value() is None:
                table.pop(key, None)  # a tombstone deletes the key
            else:
                table[key] = message.value().decode()  # a later record replaces an earlier one
            if message.offset() + 1 >= ends[message.partition()]:
                todo.discard(message.partition())
        return table
    finally:
        consumer.close()


latest_statuses = Exercise(
    key="10.latest_statuses",
    notebook="10_keys_ordering_and_compaction",
    title="rebuild each booking's latest status from a keyed changelog, tombstones included",
    statement=(
        "Write `latest_statuses(config, topic)`: read `topic` from the start of every partition to its end and "
        "return `{booking id: status}` — each key's latest value (key = booking id, value = status as text); a "
        "record with no value is a tombstone and deletes its key. `config` holds bootstrap.servers "
        "(and a secured cluster's settings) and a group.id. "
        f"The check writes status changes for 10 bookings to a fresh compacted topic of {PARTITIONS} partitions and "
        "runs your function in a process of its own (one that never returns is stopped after 30 s): Consumer, "
        "TopicPartition, KafkaError, json and time are given; import anything else inside it."
    ),
    hints=(
        "get_watermark_offsets gives each partition's start and end; assign() them from the start, poll until "
        "every partition reached its end (a partition whose start equals its end is empty: skip it)",
        "within a partition, a later record of a key replaces an earlier one; a key's records are all in one partition",
        "msg.value() is None for a tombstone: remove the key",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (latest_statuses,)
