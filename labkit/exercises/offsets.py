"""Notebook 08's exercise: where a replay of "the last seconds" starts — offsets found by time.

The check asks the brokers for `seat-reserved`'s offsets at the moment (offsets_for_times, through
`labkit.experiments.reading.offsets_at`) and names every partition the answer gets wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.domain.naming import KafkaTopicBuilder
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.experiments.reading import log_ranges, offsets_at

if TYPE_CHECKING:
    from labkit.lab import Lab


def _judge(answer: object, lab: Lab, event_id: int, since: int) -> Verdict:
    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    truth = offsets_at(lab.bootstrap_servers, topic, since)
    if not isinstance(answer, dict) or set(answer) != set(truth):
        return wrong(f"answer with one offset per partition of seat-reserved: a dict with keys 0–{len(truth) - 1}")
    ranges = log_ranges(lab.bootstrap_servers, topic)
    problems = []
    for partition, offset in sorted(truth.items()):
        given = answer[partition]
        if given == offset:
            continue
        why = ""
        if given == ranges[partition].start:
            why = " — that is where the partition starts; the replay starts at the moment"
        elif given == ranges[partition].end:
            why = " — that is the log-end offset: nothing would be replayed"
        problems.append(f"partition {partition}: the first reply since the moment is at {offset}, not {given}{why}")
    if problems:
        return wrong(*problems)
    replayed = sum(ranges[p].end - offset for p, offset in truth.items())
    return correct(f"reading seat-reserved from these offsets replays the {replayed} replies written since then.")


def _reference(bootstrap_servers: str, event_id: int, since: int) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "offsets-by-time"})  # joins no group
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        wanted = [TopicPartition(topic, p, since) for p in partitions]  # the offset field carries the timestamp
        found = consumer.offsets_for_times(wanted, timeout=10)
        starts = {}
        for tp in found:
            if tp.offset < 0:  # nothing written since: start at the end
                tp.offset = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
            starts[tp.partition] = tp.offset
        return starts
    finally:
        consumer.close()


replay_from = Exercise(
    key="08.replay_from",
    notebook="08_offsets_as_a_tool",
    title="find where a replay of the last seconds starts",
    statement=(
        "For each partition of this event's `seat-reserved` topic, find the offset of the first record written at or "
        "after `since` (epoch milliseconds): `{partition: offset}`."
    ),
    hints=(
        "Consumer.offsets_for_times takes TopicPartitions whose offset field holds the timestamp in ms",
        "a partition with nothing written since the moment answers -1: a replay there starts at the log-end offset "
        "(get_watermark_offsets)",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id", "since"),
)

EXERCISES: tuple[Exercise, ...] = (replay_from,)
