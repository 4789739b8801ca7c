"""Notebook 03's exercises: predict a group's lag, and which partitions move when a consumer leaves.

Both checks ask the brokers: the seat-reservation group's committed offsets and the log-end offsets of
`reserve-seats`, and the assignment as the group coordinator has it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from labkit.domain.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder
from labkit.domain.partitioning import SectionBasedPartitionStrategy
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.kafka.groups import GroupDescription, describe_group
from labkit.polling import poll

if TYPE_CHECKING:
    from labkit.lab import Lab

SETTLE_TIMEOUT = 30.0  # seconds a check waits for the group to own every partition again


def _seat_group(lab: Lab, event_id: int) -> GroupDescription:
    return describe_group(lab.admin, KafkaConsumerGroupBuilder.seat_reservation_service(event_id))


# -- lag ----------------------------------------------------------------------------------------------------
def _judge_lag(answer: object, lab: Lab, event_id: int) -> Verdict:
    members = _seat_group(lab, event_id).members
    if members:
        return wrong(
            f"the seat-reservation group has {len(members)} member(s) reading reserve-seats, so its lag changes "
            "while you look: stop them first (lab.remove_consumer('seat-reservation') until none is left)"
        )
    if not isinstance(answer, dict):
        return wrong(f"answer with a dict {{partition: lag}}, got {type(answer).__name__}")
    panel = lab.reservation_lag(event_id).set_index("partition")  # the brokers' offsets, as the panel draws them
    named = dict(zip(panel.subsection, panel.index, strict=True))
    for key in answer:
        if isinstance(key, bool) or not isinstance(key, int):
            where = f": {key} is partition {named[key]}" if key in named else ""
            return wrong(f"key the prediction by partition number, not {key!r}{where}")
    actual = {int(p): int(lag) for p, lag in panel.lag.items() if lag}
    predicted = {p: lag for p, lag in answer.items() if lag}
    problems = []
    for partition in sorted(set(actual) | set(predicted)):
        got, want = predicted.get(partition, 0), actual.get(partition, 0)
        if got == want:
            continue
        if partition not in panel.index:
            problems.append(f"{partition} is not a partition of reserve-seats (0 to {len(panel) - 1})")
            continue
        row = panel.loc[partition]
        committed = 0 if pd.isna(row.committed) else int(row.committed)
        problems.append(
            f"partition {partition} ({row.subsection}): you predicted lag {got}, the brokers report {want} "
            f"(log-end offset {int(row.log_end)} − committed offset {committed})"
        )
    if problems:
        if any(p not in predicted for p in actual):
            problems.append("lag counts every record after the committed offset: yours and any sent before them")
        return wrong(*problems)
    return correct(
        f"lag {sum(actual.values())} on {len(actual)} partitions, exactly as the brokers report it: log-end offset "
        "minus the group's committed offset, every record written that nobody has confirmed handling."
    )


def _lag_reference(lag_before: dict[int, int], my_bookings: list[tuple[str, int]]) -> dict[int, int]:
    strategy = SectionBasedPartitionStrategy()  # the default venue: partition = subsection index
    predicted = dict(lag_before)  # what was already waiting stays waiting
    for section, subsection in my_bookings:
        partition = strategy.get_partition_for_subsection(section, subsection)
        predicted[partition] = predicted.get(partition, 0) + 1  # one request each, nobody reads them
    return predicted


predict_lag = Exercise(
    key="04.predict_lag",
    notebook="04_consumers_in_threads",
    title="predict the group's lag per partition",
    statement=(
        "No seat-reservation consumer runs now. Book into subsections of your choice (`MY_BOOKINGS`), then predict "
        "the seat-reservation group's lag on reserve-seats as `{partition: lag}` (partitions with lag 0 may be "
        "left out). The check compares it with the lag the brokers report."
    ),
    hints=(
        "lag = log-end offset − committed offset; with nobody reading, every request sent since the last commit is lag",
        "a subsection's partition is SectionBasedPartitionStrategy().get_partition_for_subsection(section, n)",
        "the bookings the cell above sent are still unread too: start from `lagging`",
    ),
    judge=_judge_lag,
    reference=_lag_reference,
    needs=("lab", "event_id"),
)


# -- who moves ----------------------------------------------------------------------------------------------
def assignment(lab: Lab, event_id: int) -> dict[int, str]:
    """reserve-seats partition → client id of the seat-reservation member that owns it, from the coordinator."""
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    return {
        partition: member.client_id
        for member in _seat_group(lab, event_id).members
        for owned_topic, partition in member.partitions
        if owned_topic == topic
    }


def _judge_moves(answer: object, lab: Lab, event_id: int, before: dict[int, str]) -> Verdict:
    if not isinstance(answer, (set, frozenset, list, tuple)) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in answer
    ):
        return wrong("answer with a set of partition numbers, e.g. {3, 17}")
    partitions = lab.runtime.inventory.require_seating(event_id).subsection_count
    after: dict[int, str] = {}

    def settled() -> bool:
        after.clear()
        after.update(assignment(lab, event_id))
        return len(after) == partitions

    if not poll(settled, SETTLE_TIMEOUT):
        return wrong(f"the group has not settled: {partitions - len(after)} partitions have no owner; check again soon")
    moved = {p for p, owner in before.items() if after.get(p) != owner}
    if not moved:
        return wrong("no partition changed owner since `before` was taken: make a consumer leave first")
    guessed = set(answer)
    problems = [
        f"partition {p} moved from {before[p]} to {after[p]}: you did not predict it" for p in sorted(moved - guessed)
    ]
    problems += [
        f"partition {p} did not move: it stayed with {after.get(p)}" for p in sorted(guessed - moved) if p in before
    ]
    problems += [
        f"{p} is not a partition of reserve-seats (0 to {partitions - 1})" for p in sorted(guessed - set(before))
    ]
    if problems:
        return wrong(*problems)
    leavers = sorted({before[p] for p in moved} - set(after.values()))
    return correct(
        f"{len(moved)} partitions moved, all of them from {', '.join(leavers) or 'the members that lost them'}; the "
        f"other {partitions - len(moved)} stayed where they were: the coordinator moves only what must move."
    )


def _moves_reference(lab: Lab, before: dict[int, str]) -> set[int]:
    newest = lab.consumers().query("service == 'seat-reservation'").client_id.iloc[-1]  # remove_consumer stops it
    return {partition for partition, owner in before.items() if owner == newest}


who_moves = Exercise(
    key="04.who_moves",
    notebook="04_consumers_in_threads",
    title="predict which partitions move when a consumer leaves",
    statement=(
        "`before` holds the coordinator's assignment now: `{partition: client id}`. The next cell stops the newest "
        "seat-reservation consumer with lab.remove_consumer. Predict the set of reserve-seats partitions that "
        "will change owner."
    ),
    hints=(
        "under KIP-848 the coordinator moves only the partitions that must move",
        "remove_consumer stops the newest thread: the last seat-reservation row of lab.consumers()",
        "the partitions that move are the leaving member's: {p for p, owner in before.items() if owner == …}",
    ),
    judge=_judge_moves,
    reference=_moves_reference,
    needs=("lab", "event_id", "before"),
)

EXERCISES: tuple[Exercise, ...] = (who_moves, predict_lag)  # in the notebook's order
