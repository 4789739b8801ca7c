"""Notebook 08's code exercise: replay a window of time — from the first record at or after `start_ms` up to,
not including, the first at or after `end_ms`, on every partition.

The check writes 120 numbered records to a fresh topic of 4 partitions with timestamps of its own (record i at
t0 + 100·i ms, partition i % 4), runs the learner's `replay(config, topic, start_ms, end_ms, process)` in a
process of its own (`learner_process`: a loop that never ends is stopped, not left running in the kernel) and
compares what `process` was called with against the records whose timestamps fall in the window.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.learner_process import processed_values, run_until
from labkit.exercises.scratch import scratch_name, scratch_topic

if TYPE_CHECKING:
    from labkit.lab import Lab

RECORDS, PARTITIONS, STEP_MS = 120, 4, 100
FIRST, LAST = 30, 79  # the window holds records 30 … 79: [t0 + 3,000 ms, t0 + 8,000 ms)
RUN_TIMEOUT = 30.0  # s for the replay to return


def _write_timestamped(lab: Lab, topic: str, t0: int) -> None:
    """Record i: value "i", partition i % 4, timestamp t0 + 100·i ms (CreateTime: the broker keeps the producer's)."""
    producer = Producer({**lab.kafka_config, "acks": "all", "enable.idempotence": True})
    for i in range(RECORDS):
        producer.produce(topic, value=str(i), partition=i % PARTITIONS, timestamp=t0 + STEP_MS * i)
    if producer.flush(30):
        raise TimeoutError(f"the check could not write its {RECORDS} records to {topic} in 30 s")


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function replay(config, topic, start_ms, end_ms, process), got {answer!r}")
    topic, group = scratch_name(event_id, "replay")
    config = {**lab.kafka_config, "group.id": group, "enable.auto.commit": False}
    t0 = int(time.time() * 1000) - 60_000  # a minute ago: the records are history
    start_ms, end_ms = t0 + STEP_MS * FIRST, t0 + STEP_MS * (LAST + 1)
    with scratch_topic(lab, topic, PARTITIONS), tempfile.TemporaryDirectory(prefix="labkit-exercise-") as folder:
        _write_timestamped(lab, topic, t0)
        ran = run_until(answer, [config, topic, start_ms, end_ms], Path(folder), "replay", lambda: False, RUN_TIMEOUT)
        if ran.exit_code is None:
            return wrong(
                f"your function had not returned after {RUN_TIMEOUT:.0f} s ({len(processed_values(Path(folder)))} "
                "records processed): a replay ends — stop reading a partition at its end offset "
                "(offsets_for_times(end_ms), or the log-end offset from get_watermark_offsets when nothing is later)"
            )
        if ran.raised:
            return wrong(ran.failure("your function"))
        return _verdict([int(v) for v in processed_values(Path(folder)) if v.isdigit()])


def _span(numbers: list[int]) -> str:
    return f"{numbers[:6]}{' …' if len(numbers) > 6 else ''}"


def _verdict(got: list[int]) -> Verdict:
    counts = Counter(got)
    window = set(range(FIRST, LAST + 1))
    problems = []
    if early := sorted(n for n in counts if n < FIRST):
        problems.append(
            f"{len(early)} records written before start_ms were replayed ({_span(early)}): a replay starts at the "
            "offsets offsets_for_times returns for start_ms, not at the beginning of the partition"
        )
    if late := sorted(n for n in counts if n > LAST):
        problems.append(
            f"{len(late)} records written at or after end_ms were replayed ({_span(late)}): stop each partition at "
            "the offset offsets_for_times returns for end_ms"
        )
    if missing := sorted(window - set(counts)):
        problems.append(f"{len(missing)} records of the window never reached process(): {_span(missing)}")
    if twice := sorted(n for n, c in counts.items() if c > 1):
        problems.append(f"{len(twice)} records were processed more than once: {_span(twice)}")
    for partition in range(PARTITIONS):
        order = [n for n in got if n % PARTITIONS == partition]
        if order != sorted(order):
            problems.append(f"partition {partition}'s records came out of offset order: {_span(order)}")
    if problems:
        return wrong(*problems)
    return correct(
        f"The {len(window)} records of the window (records {FIRST}–{LAST}), each once, each partition in offset "
        "order, and nothing from outside it: a replay bounded by time on both ends."
    )


def _reference(config: dict[str, Any], topic: str, start_ms: int, end_ms: int, process: Callable[[Any], None]) -> None:
    # librdkafka wants a group.id even for assign(); auto-commit off, or it would commit for that group on close()
    consumer = Consumer({**config, "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        starts = consumer.offsets_for_times([TopicPartition(topic, p, start_ms) for p in partitions], timeout=10)
        ends = consumer.offsets_for_times([TopicPartition(topic, p, end_ms) for p in partitions], timeout=10)
        stop = {}
        for tp in ends:  # -1: nothing written at or after end_ms, so read up to the log-end offset
            log_end = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
            stop[tp.partition] = tp.offset if tp.offset >= 0 else log_end
        todo = {tp.partition for tp in starts if 0 <= tp.offset < stop[tp.partition]}
        consumer.assign([tp for tp in starts if tp.partition in todo])
        while todo:
            message: Any = consumer.poll(1.0)  # a Message, or None when nothing came
            if message is None:
                continue
            if message.error():  # _PARTITION_EOF: the partition's end (its last offsets may be markers, not records)
                if message.error().code() == KafkaError._PARTITION_EOF:
                    todo.discard(message.partition())
                continue
            if message.offset() < stop[message.partition()]:
                process(message)
            if message.offset() + 1 >= stop[message.partition()]:
                todo.discard(message.partition())
    finally:
        consumer.close()


replay_window = Exercise(
    key="08.replay_window",
    notebook="08_offsets_as_a_tool",
    title="replay a window of time, and stop at its end",
    statement=(
        "Write `replay(config, topic, start_ms, end_ms, process)`: call `process(message)` for every record of "
        "`topic` written at or after `start_ms` and before `end_ms` (epoch milliseconds), each once, each partition "
        "in offset order, and return when the window is read. `config` has bootstrap.servers "
        "(and a secured cluster's settings) and a group.id. The "
        f"check writes {RECORDS} records with timestamps of its own to a fresh topic of {PARTITIONS} partitions, runs "
        "your function in a process of its own and compares what process() got with the window. Consumer, "
        "TopicPartition, KafkaError, json and time are given; import anything else inside the function."
    ),
    hints=(
        "offsets_for_times([TopicPartition(topic, p, start_ms), …]) gives each partition's first offset at or after "
        "start_ms; the same call with end_ms gives where to stop",
        "offsets_for_times answers -1 where nothing was written at or after the time: there, read up to the log-end "
        "offset (get_watermark_offsets(…)[1])",
        "assign() the starting TopicPartitions, poll, and track each partition's next offset until every one has "
        "reached its stop",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (replay_window,)
