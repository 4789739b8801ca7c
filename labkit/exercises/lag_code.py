"""Notebook 05's code exercise: a group's lag per partition, as the dashboard's partition panel shows it, from the
client's own calls.

The check writes 10, 20, 30 and 0 records to the 4 partitions of a fresh topic, commits offsets 10 and 5 on the
first two for a fresh group (the third has none, the fourth is empty), calls the learner's
`lag_per_partition(config, topic)` and compares with what the brokers hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, TopicPartition

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.keyed import KeyedRecord, write_records

if TYPE_CHECKING:
    from labkit.lab import Lab

RECORDS = {0: 10, 1: 20, 2: 30, 3: 0}  # per partition
COMMITTED = {0: 10, 1: 5}  # partition 2 has records and no committed offset; partition 3 has neither
TRUTH = {0: 0, 1: 15, 2: 30, 3: 0}


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function lag_per_partition(config, topic), got {answer!r}")
    topic, group = scratch_name(event_id, "lag")
    config = {**lab.kafka_config, "group.id": group}
    with scratch_topic(lab, topic, len(RECORDS)):
        records = [KeyedRecord(None, str(i).encode(), p) for p, n in RECORDS.items() for i in range(n)]
        write_records(lab.bootstrap_servers, topic, records)
        committer = Consumer({**config, "enable.auto.commit": False})  # commits for the group without joining it
        try:
            committer.commit(offsets=[TopicPartition(topic, p, o) for p, o in COMMITTED.items()], asynchronous=False)
        finally:
            committer.close()
        try:
            lags = answer(dict(config), topic)
        except Exception as error:  # the learner's code: any error is a verdict, not a crash
            return wrong(f"your function raised {type(error).__name__}: {error}")
    return _verdict(lags)


def _verdict(lags: Any) -> Verdict:
    if not isinstance(lags, dict) or set(lags) != set(RECORDS):
        return wrong(f"return {{partition: lag}} for partitions {sorted(RECORDS)}, got {lags!r:.80}")
    problems = []
    for partition, lag in sorted(TRUTH.items()):
        given = lags[partition]
        if given == lag:
            continue
        why = ""
        if partition in (2, 3) and given in (0, RECORDS[partition] + 1001) and given != lag:
            why = (
                ": the group has no committed offset there (committed() answers -1001, OFFSET_INVALID); it would "
                "start at the log start offset, so everything from there is lag"
            )
        problems.append(f"partition {partition}: lag {lag}, not {given!r}{why}")
    if problems:
        return wrong(*problems)
    return correct(
        "lag = log-end offset − committed offset on every partition, and the whole log where nothing is committed: "
        f"{TRUTH}. The partition panel computes the same for the seat-reservation group (its topics start at 0)."
    )


def _reference(config: dict[str, Any], topic: str) -> dict[int, int]:
    consumer = Consumer({**config, "enable.auto.commit": False})  # it only asks: it never joins the group
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        lags = {}
        for tp in committed:
            log_start, log_end = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            lags[tp.partition] = log_end - (tp.offset if tp.offset >= 0 else log_start)  # -1001: nothing committed
        return lags
    finally:
        consumer.close()


lag_by_hand = Exercise(
    key="05.lag_by_hand",
    notebook="05_dashboard",
    title="a group's lag per partition from committed offsets and watermarks",
    statement=(
        "Write `lag_per_partition(config, topic)`: the lag of the group named in `config` (group.id) on each "
        "partition of `topic`, `{partition: lag}` — the log-end offset minus the group's committed offset, and "
        "where the group has committed nothing, the whole log from its start offset. The check sets up a fresh "
        "topic of 4 partitions and a group with offsets committed on some of them."
    ),
    hints=(
        "Consumer(config).committed([TopicPartition(topic, p) for p in …], timeout=10) asks the group's coordinator",
        "get_watermark_offsets(TopicPartition(topic, p), timeout=10) gives (log start, log end) from the leader",
        "a partition with no committed offset answers -1001 (OFFSET_INVALID): count from the log start there",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (lag_by_hand,)
