"""Notebook 10's exercise: how the hash laid 100 subsection keys over 100 partitions.

The check reads the topic's log-end offsets from the brokers (each partition's record count: the topic is written
once, from offset 0) and names the partitions a wrong answer miscounted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.experiments.keyed import partition_layout
from labkit.experiments.reading import log_ranges

if TYPE_CHECKING:
    from labkit.lab import Lab

FIELDS = ("empty", "two or more")


def _judge(answer: object, lab: Lab, topic: str) -> Verdict:
    if not isinstance(answer, dict) or set(answer) != set(FIELDS):
        return wrong('answer with two counts of partitions: {"empty": …, "two or more": …}')
    truth = _reference(lab, topic)
    counts = {p: r.end - r.start for p, r in log_ranges(lab.bootstrap_servers, topic).items()}
    problems = []
    for field in FIELDS:
        given = answer[field]
        if not isinstance(given, int) or isinstance(given, bool):
            problems.append(f"{field}: a number of partitions, got {given!r}")
        elif given != truth[field]:
            which = [p for p, n in counts.items() if (n == 0 if field == "empty" else n >= 2)]
            shown = ", ".join(map(str, which[:8])) + (" …" if len(which) > 8 else "")
            problems.append(f"{field}: you said {given}; the log-end offsets say {truth[field]} (partitions {shown})")
    if problems:
        if answer.get("empty") == truth["two or more"] and answer.get("two or more") == truth["empty"]:
            problems.append("the two counts look swapped")
        return wrong(*problems)
    return correct(
        f"{truth['empty']} partitions hold no subsection and {truth['two or more']} hold two or more: a hash spreads "
        "keys at random, so it leaves about a third of the partitions empty when keys and partitions are as many."
    )


def _reference(lab: Lab, topic: str) -> dict[str, int]:
    ranges = log_ranges(lab.bootstrap_servers, topic)
    layout = partition_layout({p: r.end - r.start for p, r in ranges.items()}, len(ranges))
    return {field: layout[field] for field in FIELDS}


hashed_layout = Exercise(
    key="10.hashed_layout",
    notebook="10_keys_ordering_and_compaction",
    title="count the partitions the hash left empty or doubled up",
    statement=(
        "From the log-end offsets of `topic` (one record per subsection, keys hashed with murmur2), count the "
        'partitions that hold no record and those that hold two or more: {"empty": …, "two or more": …}.'
    ),
    hints=(
        "labkit.experiments.reading.log_ranges(lab.bootstrap_servers, topic) gives each partition's start and end"
        " offsets",
        "the topic was written once from offset 0, so a partition's end offset is how many records it holds",
        "count the partitions whose end is 0, and those whose end is 2 or more",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "topic"),
)

EXERCISES: tuple[Exercise, ...] = (hashed_layout,)
