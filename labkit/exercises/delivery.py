"""Notebook 06's code exercise: a producer that knows, from its delivery reports, exactly which records failed.

The check calls the learner's `send_all(config, topic, records)` on a fresh topic whose `max.message.bytes` is
2 KiB, in 6 partitions, with 30 records of which four are 3 KiB: the brokers refuse whatever batch holds one of
those (a producer batches per partition, so the other partitions' records get through). It then
reads the topic back and compares: the numbers the function says failed must be exactly those the log lacks.
Which records share a refused batch depends on the producer's batching; the log is the truth either way.
"""

from __future__ import annotations

import base64
import random
from typing import TYPE_CHECKING, Any

from confluent_kafka import Producer

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.reading import read_topic

if TYPE_CHECKING:
    from labkit.lab import Lab

RECORDS, LARGE, LIMIT, PARTITIONS = 30, (7, 13, 21, 26), 2048, 6


def _records() -> dict[int, str]:
    """30 values, four of them 4,000 characters of random base64: about 3 KB even compressed, over the limit."""
    noise = random.Random(6)
    large = {n: base64.b64encode(noise.randbytes(3000)).decode() for n in LARGE}
    return {n: f"{n}:{large.get(n, 'small')}" for n in range(RECORDS)}


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function send_all(config, topic, records), got {answer!r}")
    topic, _ = scratch_name(event_id, "reports")
    with scratch_topic(lab, topic, PARTITIONS, {"max.message.bytes": str(LIMIT)}):
        try:
            told_failed = answer(lab.kafka_config, topic, _records())
        except Exception as error:  # the learner's code: any error is a verdict, not a crash
            return wrong(f"your function raised {type(error).__name__}: {error}")
        in_log = {int(r.key or -1) for r in read_topic(lab.bootstrap_servers, topic)}
    if not isinstance(told_failed, (set, list, tuple)) or not all(isinstance(n, int) for n in told_failed):
        return wrong(f"return the numbers whose delivery failed, as a set of ints; got {told_failed!r:.80}")
    return _verdict(set(told_failed), in_log)


def _verdict(told_failed: set[int], in_log: set[int]) -> Verdict:
    missing = set(range(RECORDS)) - in_log
    if not missing:
        return wrong("every record is in the log, the 3 KiB ones too: the check's topic should have refused them")
    problems = []
    if silent := sorted(missing - told_failed):
        problems.append(
            f"records {silent[:8]}{' …' if len(silent) > 8 else ''} ({len(silent)} in all) are not in the log, and "
            "your function did not say they failed. With acks=0 the "
            "broker never answers, so every record is reported delivered; with acks=1 or all, each delivery report "
            "(on_delivery's err) says which failed — and flush() waits until every report has come."
        )
    if false_alarm := sorted(told_failed & in_log):
        problems.append(f"records {false_alarm} are in the log, yet your function says they failed")
    if problems:
        return wrong(*problems)
    shared = (
        " librdkafka batches per partition and does not split a refused batch (the Java producer does): small "
        "records that shared a batch with a large one failed too."
        if len(missing) > len(LARGE)
        else ""
    )
    return correct(
        f"You were told exactly which {len(missing)} records failed, and the log holds the other "
        f"{RECORDS - len(missing)}. The brokers refused every batch holding a record over the topic's "
        f"max.message.bytes ({LIMIT} bytes).{shared} Only the delivery reports know this: produce() had returned "
        "long before."
    )


def _reference(config: dict[str, Any], topic: str, records: dict[int, str]) -> set[int]:
    producer = Producer({**config, "acks": "all", "enable.idempotence": True})
    failed: set[int] = set()

    def report(error: Any, message: Any) -> None:  # called from poll() or flush(), once per record
        if error is not None:
            failed.add(int(message.key()))

    for number, value in records.items():
        producer.produce(topic, key=str(number), value=value, on_delivery=report)
    if producer.flush(30):  # sends what is queued and waits for every delivery report; returns how many are left
        raise TimeoutError("some delivery reports did not come in 30 s")
    return failed


delivery_reports = Exercise(
    key="06.delivery_reports",
    notebook="06_delivery_guarantees",
    title="know from the delivery reports exactly which records failed",
    statement=(
        "Write `send_all(config, topic, records)`: send each record of `records` ({number: value}) to `topic` with "
        "key str(number), and return the set of numbers whose delivery failed. `config` holds bootstrap.servers "
        "(and a secured cluster's settings); "
        f"the settings are yours. The check's topic refuses records over {LIMIT} bytes, and four of the "
        f"{RECORDS} are bigger; it compares your set with what the log holds."
    ),
    hints=(
        "produce(topic, key=…, value=…, on_delivery=callback): the callback gets (err, msg) for each record",
        "err is None when the record was written; msg.key() says which record it was",
        "acks=0 is never told of a failure; use acks=all, and flush() before you return",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (delivery_reports,)
