"""Notebook 07's exercise: count what each `acks` setting lost when the partition leader died.

The check reads the three topics from the brokers (offset 0 to the end) and compares each writer's delivery
reports with what the log holds: lost = reported delivered, not in the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.experiments.producer_acks import ACKS, WriteReport, numbers_in_log
from labkit.experiments.reading import read_topic

if TYPE_CHECKING:
    from labkit.lab import Lab


def _judge(answer: object, lab: Lab, reports: Mapping[str, WriteReport], topics: Mapping[str, str]) -> Verdict:
    if not isinstance(answer, dict) or set(answer) != set(ACKS):
        return wrong('answer with one count per acks setting: {"0": …, "1": …, "all": …}')
    truth = _reference(lab.bootstrap_servers, reports, topics)
    problems = []
    for acks in ACKS:
        given = answer[acks]
        if not isinstance(given, int) or isinstance(given, bool):
            problems.append(f"acks={acks}: a count of records, got {given!r}")
        elif given != truth[acks]:
            report = reports[acks]
            in_log = len(numbers_in_log(read_topic(lab.bootstrap_servers, topics[acks])))
            hint = (
                " — that is sent minus kept; count only what the producer was told was delivered"
                if given == report.sent - in_log and given != truth[acks]
                else ""
            )
            problems.append(
                f"acks={acks}: the producer was told {len(report.delivered)} records were delivered and the log "
                f"holds {in_log} distinct numbers; you said {given} were lost{hint}"
            )
    if problems:
        return wrong(*problems)
    return correct(
        f"acks=0 lost {truth['0']}, acks=1 lost {truth['1']}, acks=all lost {truth['all']}: the leader's "
        "acknowledgement (acks=1) is worth only what the followers had fetched when it died."
    )


def _reference(bootstrap_servers: str, reports: Mapping[str, WriteReport], topics: Mapping[str, str]) -> dict[str, int]:
    lost = {}
    for acks, report in reports.items():
        kept = numbers_in_log(read_topic(bootstrap_servers, topics[acks]))  # number → how often it is in the log
        lost[acks] = len(report.delivered - set(kept))
    return lost


lost_writes = Exercise(
    key="06.lost_writes",
    notebook="06_delivery_guarantees",
    title="count what each acks setting lost",
    statement=(
        "For each writer of section 1, count the records it was told were delivered (`reports[acks].delivered`) "
        'that its topic (`topics[acks]`) does not hold: `{"0": …, "1": …, "all": …}`.'
    ),
    hints=(
        "read each topic from offset 0: labkit.experiments.reading.read_topic(lab.bootstrap_servers, topic)"
        " returns its records",
        "labkit.experiments.producer_acks.numbers_in_log(records) counts the numbers in them;"
        " a set difference does the rest",
        "a record sent but never reported delivered is not lost: the producer knew it had failed",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "reports", "topics"),
)

EXERCISES: tuple[Exercise, ...] = (lost_writes,)
