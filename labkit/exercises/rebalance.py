"""Notebook 07's code exercise: a consumer that commits in batches, and on revoke, so that a partition moving to
another member repeats nothing.

The check runs the learner's `consume(config, topic, process)` in a process of its own (`learner_process`) on a
fresh topic of 40 records in 2 partitions. Once it has processed all 40 — committing at most every 100 records,
so none yet — the check starts a second member of the group. The group coordinator moves one partition to it: what
the first member processed there and did not commit before letting it go, the second reads and processes again.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, TopicPartition

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.learner_process import LearnerProcess, processed_values
from labkit.exercises.scratch import committed_offsets, group_config, scratch_name, scratch_topic, write_numbered
from labkit.kafka.groups import describe_group
from labkit.polling import poll

if TYPE_CHECKING:
    from labkit.lab import Lab

RECORDS, PARTITIONS, BATCH = 40, 2, 100
START_TIMEOUT = 60.0  # s for the first member to process every record (a fresh process, a group to join)
MOVE_TIMEOUT = 30.0  # s for the second member to be given a partition
REREAD_TIMEOUT = 15.0  # s for the second member to read again what was not committed
AUTO_COMMIT_WAIT = 1.0  # s: five ticks of the 200-ms auto-commit timer a learner may have left on


def _given_to_second(lab: Lab, group: str) -> tuple[int, ...]:
    """(the partition the second member owns,) once it owns one that the first no longer does; () until then."""
    members = describe_group(lab.admin, group).members
    owned = {m.client_id: {p for _, p in m.partitions} for m in members}
    second, first = owned.get("second", set()), owned.get("first", set())
    return tuple(second) if len(second) == 1 and not second & first else ()


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function consume(config, topic, process), got {type(answer).__name__}")
    topic, group = scratch_name(event_id, "revoke")
    with scratch_topic(lab, topic, PARTITIONS), tempfile.TemporaryDirectory(prefix="labkit-exercise-") as folder:
        work = Path(folder)
        write_numbered(lab, topic, RECORDS, PARTITIONS)
        first = LearnerProcess.start(answer, [group_config(lab, group, **{"client.id": "first"}), topic], work, "first")
        second: LearnerProcess | None = None
        try:
            poll(lambda: len(processed_values(work)) >= RECORDS or first.exit_code() is not None, START_TIMEOUT)
            if first.exit_code() is not None:
                return wrong(f"your function ended (exit code {first.exit_code()}):\n{first.errors()}")
            if len(processed_values(work)) < RECORDS:
                return wrong(f"in {START_TIMEOUT:.0f} s process() finished {len(processed_values(work))} of {RECORDS}")
            # an auto-commit timer (200 ms here) fires within the second: wait for it before judging what was committed
            if poll(lambda: sum(committed_offsets(lab, group, topic).values()) >= RECORDS, AUTO_COMMIT_WAIT):
                return wrong(
                    f"all {RECORDS} records were committed before any rebalance: with a commit at most every "
                    f"{BATCH} records there would be none yet. Turn enable.auto.commit off, commit every {BATCH} "
                    "records, and commit what you processed when a partition is revoked."
                )
            second_config = group_config(lab, group, **{"client.id": "second"})
            second = LearnerProcess.start(answer, [second_config, topic], work, "second")
            given = poll(lambda: _given_to_second(lab, group), MOVE_TIMEOUT, interval=0.3)
            if not given:
                return wrong(f"the second member was given no partition in {MOVE_TIMEOUT:.0f} s:\n{second.errors()}")
            moved = given[0]
            committed = committed_offsets(lab, group, topic).get(moved)
            if committed != RECORDS // PARTITIONS:
                poll(lambda: len(processed_values(work)) >= RECORDS + RECORDS // PARTITIONS, REREAD_TIMEOUT)
            return _verdict(processed_values(work), moved, committed)
        finally:
            first.kill()
            if second is not None:
                second.kill()


def _verdict(done: list[str], moved: int, committed: int | None) -> Verdict:
    counts = Counter(int(v) for v in done)
    repeated = sorted(n for n, c in counts.items() if c > 1)
    if missing := sorted(set(range(RECORDS)) - set(counts)):
        return wrong(f"records {missing[:8]} were never processed")
    if repeated:
        return wrong(
            f"records {repeated[:8]} ({len(repeated)} in all) were processed twice: partition {moved} moved to the "
            f"new member with its committed offset at {committed if committed is not None else 'nothing'}, so the "
            "new member read again what the first had processed there. Commit what you processed in the on_revoke "
            "callback: subscribe([topic], on_revoke=…) is called before a partition is taken away."
        )
    return correct(
        f"Partition {moved} moved to the new member with its committed offset at {committed}, the end of what the "
        f"first member had processed: committed on revoke. All {RECORDS} records processed once, with no commit "
        "before the rebalance."
    )


def _reference(config: dict[str, Any], topic: str, process: Callable[[Any], None]) -> None:
    consumer = Consumer({**config, "enable.auto.commit": False})
    done: dict[int, int] = {}  # partition → the next offset, for records processed and not yet committed

    def commit(partitions: set[int] | None = None) -> None:
        offsets = [TopicPartition(topic, p, o) for p, o in done.items() if partitions is None or p in partitions]
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)
            for tp in offsets:
                del done[tp.partition]

    def on_revoke(_: Any, partitions: list[TopicPartition]) -> None:  # before the partitions are taken away
        commit({tp.partition for tp in partitions})

    def on_lost(_: Any, partitions: list[TopicPartition]) -> None:  # already someone else's: commit nothing
        for tp in partitions:
            done.pop(tp.partition, None)

    consumer.subscribe([topic], on_revoke=on_revoke, on_lost=on_lost)
    since_commit = 0
    try:
        while True:
            message: Any = consumer.poll(1.0)
            if message is None or message.error():
                continue
            process(message)
            done[message.partition()] = message.offset() + 1
            since_commit += 1
            if since_commit >= 100:
                commit()
                since_commit = 0
    finally:
        consumer.close()


commit_on_revoke = Exercise(
    key="07.commit_on_revoke",
    notebook="07_failure_and_recovery",
    title="commit in batches, and on revoke: a partition that moves repeats nothing",
    statement=(
        "Write `consume(config, topic, process)`: a Consumer built from `config` (it names the group), subscribed "
        "to `topic`, polling for ever and calling `process(message)` for each record, committing at most once "
        f"every {BATCH} records processed — and such that when the group moves a partition to another member, "
        "that member repeats none of the records already processed. The check runs your function in a process of "
        f"its own on {RECORDS} records in {PARTITIONS} partitions, then starts a second member and counts what was "
        "processed twice. Your function runs in a fresh Python: Consumer, Producer, TopicPartition, KafkaError, "
        "KafkaException, json and time are given; import anything else inside it."
    ),
    hints=(
        "Consumer({**config, 'enable.auto.commit': False}); keep, per partition, the offset after the last record "
        "processed",
        "subscribe([topic], on_revoke=callback): librdkafka calls callback(consumer, partitions) inside poll(), "
        "before those partitions go to another member",
        "in the callback, commit the kept offsets of the revoked partitions: "
        "consumer.commit(offsets=[TopicPartition(topic, p, offset)], asynchronous=False)",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (commit_on_revoke,)
