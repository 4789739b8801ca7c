"""Notebook 02's exercise: a partitioner of one's own for another venue, tested on the properties that matter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labkit.exercises.kit import Exercise, Unsolved, Verdict, contains_placeholder, correct, wrong

SECTIONS = "ABCDEFGHIJKL"  # the other venue: 12 sections of 8 subsections, 96 in all
SUBSECTIONS = 8
SUBSECTION_COUNT = len(SECTIONS) * SUBSECTIONS
# A partition per subsection (96, and more); fewer: whole sections share (12, 24: one section each; 5: shared).
PARTITION_COUNTS = (96, 120, 12, 24, 5)

Partitioner = Callable[[str, int, int], Any]


class _Wrong(Exception):
    """A result no partitioner may give; its message is the teaching one."""


def _layout(partition_for: Partitioner, partitions: int) -> dict[tuple[str, int], int]:
    """Every subsection's partition for one partition count; the first bad result says what is wrong."""
    layout = {}
    for section in SECTIONS:
        for subsection in range(1, SUBSECTIONS + 1):
            value = partition_for(section, subsection, partitions)
            call = f"partition_for({section!r}, {subsection}, {partitions})"
            if contains_placeholder(value):
                raise Unsolved(call)
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Wrong(f"{call} returned {value!r} ({type(value).__name__}): a partition is an int")
            if not 0 <= value < partitions:
                raise _Wrong(f"{call} = {value}: a {partitions}-partition topic has partitions 0 to {partitions - 1}")
            layout[(section, subsection)] = value
    return layout


def _own_partitions(layout: dict[tuple[str, int], int], partitions: int) -> list[str]:
    """With a partition per subsection available, no two subsections may share one."""
    seen: dict[int, str] = {}
    for (section, subsection), partition in layout.items():
        other = seen.setdefault(partition, f"{section}-{subsection}")
        if other != f"{section}-{subsection}":
            return [
                f"with {partitions} partitions, {other} and {section}-{subsection} both go to partition {partition}: "
                f"there are enough partitions for one per subsection, so none may share"
            ]
    return []


def _shared_sections(layout: dict[tuple[str, int], int], partitions: int) -> list[str]:
    """With fewer partitions than subsections, a section stays whole, and the sections spread evenly."""
    problems = []
    for section in SECTIONS:
        used = sorted({layout[(section, n)] for n in range(1, SUBSECTIONS + 1)})
        if len(used) > 1:
            problems.append(
                f"with {partitions} partitions, section {section}'s subsections go to partitions {used}: with fewer "
                "partitions than subsections, a section's subsections share one (one consumer owns the section)"
            )
    if problems:
        return problems[:1]
    per_partition: dict[int, list[str]] = {}
    for section in SECTIONS:
        per_partition.setdefault(layout[(section, 1)], []).append(section)
    counts = {p: len(per_partition.get(p, [])) for p in range(partitions)}
    if max(counts.values()) - min(counts.values()) > 1:
        busiest = max(counts, key=lambda p: counts[p])
        idlest = min(counts, key=lambda p: counts[p])
        return [
            f"with {partitions} partitions, partition {busiest} gets sections {per_partition[busiest]} and partition "
            f"{idlest} gets {per_partition.get(idlest, []) or 'none'}: spread the sections evenly"
        ]
    return []


def _judge(answer: object) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function partition_for itself (not its result), got {type(answer).__name__}")
    problems: list[str] = []
    try:
        for partitions in PARTITION_COUNTS:
            layout = _layout(answer, partitions)
            if layout != _layout(answer, partitions):
                problems.append(f"with {partitions} partitions two calls gave different answers: it must be a function")
            elif partitions >= SUBSECTION_COUNT:
                problems += _own_partitions(layout, partitions)
            else:
                problems += _shared_sections(layout, partitions)
    except _Wrong as error:
        problems.append(str(error))
    if problems:
        return wrong(*problems)
    return correct(
        f"with {SUBSECTION_COUNT}+ partitions every subsection has its own, with fewer a section's subsections stay "
        "together and the sections spread evenly: always in range, always the same answer for the same subsection."
    )


def _reference(section: str, subsection: int, partitions: int) -> int:
    sections, subsections = "ABCDEFGHIJKL", 8
    index = sections.index(section)
    if partitions >= len(sections) * subsections:  # one partition per subsection, as the spec's formula
        return index * subsections + (subsection - 1)
    return index % partitions  # fewer: a whole section to one partition, sections round robin


own_partitioner = Exercise(
    key="02.own_partitioner",
    notebook="02_partitioning",
    title="write a partitioner for another venue",
    statement=(
        f"Another venue has {len(SECTIONS)} sections ({SECTIONS[0]}–{SECTIONS[-1]}) of {SUBSECTIONS} subsections. "
        "Write `partition_for(section, subsection, partitions)`: with at least one partition per subsection "
        f"({SUBSECTION_COUNT}), every subsection gets a partition of its own; with fewer, all subsections of a "
        "section share one partition and the sections are spread evenly: the numbers of sections two partitions "
        "hold differ by one at most (with more partitions than sections, some stay empty). The check tries "
        f"{', '.join(map(str, PARTITION_COUNTS))} partitions."
    ),
    hints=(
        "start from the spec's formula, section index × subsections + (subsection − 1), for the case with enough "
        "partitions",
        "'ABCDEFGHIJKL'.index(section) is the section's index; subsections are numbered from 1",
        "with fewer partitions, use only the section's index: index % partitions spreads the sections round robin",
    ),
    judge=_judge,
    reference=_reference,
)

EXERCISES: tuple[Exercise, ...] = (own_partitioner,)
