"""Notebook 09's exercise: how many records of the transactional forwarder's output were aborted.

An aborted record stays in the log: `read_uncommitted` returns it, `read_committed` skips it. The check reads the
output topic both ways from the brokers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.experiments.reading import read_topic

if TYPE_CHECKING:
    from labkit.lab import Lab


def _judge(answer: object, lab: Lab, topic: str) -> Verdict:
    if not isinstance(answer, int) or isinstance(answer, bool):
        return wrong(f"answer with a number of records, got {answer!r}")
    committed = len(read_topic(lab.bootstrap_servers, topic, isolation="read_committed"))
    everything = len(read_topic(lab.bootstrap_servers, topic, isolation="read_uncommitted"))
    truth = everything - committed
    if answer == truth:
        return correct(
            f"{everything} records in the log, {committed} of them committed: {truth} were written by transactions "
            "that a kill left open and the next instance aborted. A read_committed consumer never sees them."
        )
    if answer == everything:
        return wrong(f"{everything} is every record of the log; count only those read_committed does not return")
    return wrong(f"read_uncommitted reads {everything} records and read_committed {committed}; you said {answer}")


def _reference(lab: Lab, topic: str) -> int:
    everything = read_topic(lab.bootstrap_servers, topic, isolation="read_uncommitted")
    committed = read_topic(lab.bootstrap_servers, topic, isolation="read_committed")
    return len(everything) - len(committed)


aborted_records = Exercise(
    key="09.aborted_records",
    notebook="09_exactly_once",
    title="count the aborted records in the transactional output",
    statement=(
        "How many records of `topic` (the transactional forwarder's output) are in the log but were never "
        "committed? Read it with both isolation levels."
    ),
    hints=(
        "labkit.experiments.reading.read_topic(lab.bootstrap_servers, topic, isolation=…) reads it from offset 0",
        'isolation="read_uncommitted" returns aborted records too; "read_committed" skips them',
        "the commit and abort markers are not records: neither isolation level returns them",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "topic"),
)

EXERCISES: tuple[Exercise, ...] = (aborted_records,)
