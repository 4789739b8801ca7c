"""Notebook 04's code exercise: a consumer loop with manual commits that a crash cannot make lose a record.

The check runs the learner's `consume(config, topic, process)` in a process of its own (`learner_process`)
against a fresh topic of 40 numbered records, SIGKILLs it while `process` handles record 15, starts it again
and reads what `process` finished in both runs: a record never finished is lost, one finished twice repeated.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.learner_process import crash_while_held, processed_values, run_until
from labkit.exercises.scratch import (
    committed_offsets,
    group_config,
    restart_timeout,
    scratch_name,
    scratch_topic,
    write_numbered,
)

if TYPE_CHECKING:
    from labkit.lab import Lab

RECORDS, PARTITIONS, HOLD_AT = 40, 2, 15


def _second_run(answer: Callable[..., Any], lab: Lab, config: dict[str, Any], topic: str, work: Path) -> str | None:
    """Run until every record was processed or the group committed the whole topic; None, or what went wrong."""
    values = {str(i) for i in range(RECORDS)}
    group = config["group.id"]

    def finished() -> bool:
        committed = committed_offsets(lab, group, topic)
        whole = len(committed) == PARTITIONS and sum(committed.values()) == RECORDS
        return values <= set(processed_values(work)) or whole

    return run_until(answer, [config, topic], work, "second", finished, restart_timeout(lab)).failure() or None


@dataclass(frozen=True)
class CrashRun:
    """What a consumer loop did across a crash and a restart (`crash_and_restart`)."""

    processed: list[str]  # every value process() finished, over both runs, in order
    held: str  # the value process() was holding when the first run was SIGKILLed
    before_crash: int  # how many process() had finished by then
    committed: dict[int, int]  # the group's committed offsets at the crash
    problem: str = ""  # what went wrong, for the learner; the rest is then partial

    @property
    def lost(self) -> list[int]:
        return sorted(int(v) for v in {str(i) for i in range(RECORDS)} - set(self.processed))

    @property
    def repeated(self) -> list[int]:
        return sorted(int(v) for v, n in Counter(self.processed).items() if n > 1)


def crash_and_restart(lab: Lab, event_id: int, loop: Callable[..., Any]) -> CrashRun:
    """Run `loop(config, topic, process)` in a process of its own on a fresh topic of RECORDS numbered records in
    PARTITIONS partitions; SIGKILL it while process() holds record HOLD_AT, start it again and let it run until
    every record was processed or the group committed them all. The topic is deleted afterwards."""
    topic, group = scratch_name(event_id, "commits")
    config = group_config(lab, group)
    with scratch_topic(lab, topic, PARTITIONS), tempfile.TemporaryDirectory(prefix="labkit-exercise-") as folder:
        work = Path(folder)
        write_numbered(lab, topic, RECORDS, PARTITIONS)
        held, problem = crash_while_held(loop, [config, topic], work, HOLD_AT)
        before_crash, committed = len(processed_values(work)), committed_offsets(lab, group, topic)
        if not problem:
            problem = _second_run(loop, lab, config, topic, work) or ""
        return CrashRun(processed_values(work), held, before_crash, committed, problem)


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function consume(config, topic, process), got {type(answer).__name__}")
    run = crash_and_restart(lab, event_id, answer)
    return wrong(run.problem) if run.problem else _verdict(run)


def _offsets(committed: dict[int, int]) -> str:
    return ", ".join(f"partition {p} at offset {o}" for p, o in sorted(committed.items())) or "nothing"


def _verdict(run: CrashRun) -> Verdict:
    lost, repeated, held, committed = run.lost, run.repeated, run.held, run.committed
    if lost:
        return wrong(
            f"records {lost} were never processed (record {held} was in process() at the crash): before the "
            f"crash the group had committed {_offsets(committed)} (the next offset to read), past records "
            "that process() had not finished. The restarted consumer began at those offsets and skipped them. "
            "Commit an offset only after process() returned for its record, and turn off enable.auto.commit: "
            "it commits what poll() returned, processed or not."
        )
    if not committed:
        return wrong(
            f"nothing lost, but nothing was committed before the crash either: the restart read all {run.before_crash} "
            "records again from the beginning (auto.offset.reset=earliest). Commit after processing, so that a "
            "restart begins where the crash left off."
        )
    again = f"record(s) {repeated} ran twice: finished before the crash, not yet committed" if repeated else ""
    return correct(
        f"all {RECORDS} records processed, none lost; before the crash the group had committed {_offsets(committed)}. "
        + (again or "None ran twice: each was committed as soon as it was processed (the held one never was).")
        + f" Record {held}, in process() at the crash, was processed by the restart: at-least-once."
    )


def _reference(config: dict[str, Any], topic: str, process: Callable[[Any], None]) -> None:
    consumer = Consumer({**config, "enable.auto.commit": False})
    consumer.subscribe([topic])
    try:
        while True:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                print("consumer error:", message.error())
                continue
            process(message)  # first the work...
            consumer.commit(message=message, asynchronous=False)  # ...then the offset after it
    finally:
        consumer.close()


commit_after_processing = Exercise(
    key="04.commit_after_processing",
    notebook="04_consumers_in_threads",
    title="a consumer loop that a crash cannot make lose a record",
    statement=(
        "Write `consume(config, topic, process)`: a Consumer built from `config` (it names the group), "
        "subscribed to `topic`, polling for ever and calling `process(message)` for every record, with "
        "commits such that a consumer SIGKILLed at any moment and started again loses no record. The check runs "
        f"your function in a process of its own on a fresh topic of {RECORDS} records, kills it while process() "
        f"handles its {HOLD_AT}th record, starts it again and counts what was lost and what was processed twice. The "
        "function runs in a fresh Python: Consumer, Producer, TopicPartition, KafkaError, KafkaException, json and "
        "time are given; import anything else inside it."
    ),
    hints=(
        "Consumer({**config, 'enable.auto.commit': False}); consumer.subscribe([topic]); then loop on poll(1.0)",
        "poll returns None when nothing came, and a message whose .error() is set for errors: skip both",
        "call process(message) first and consumer.commit(message=message, asynchronous=False) after it",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (commit_after_processing,)
