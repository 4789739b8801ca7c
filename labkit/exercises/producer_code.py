"""Notebook 02's code exercise: a producer that routes each request by the spec's partitioner and reports, from
its delivery callback, where each one landed.

The check calls the learner's `send_requests(config, topic, requests, strategy)` on a fresh topic, reads the
topic back from offset 0 and compares: each request in its subsection's partition, nothing missing, and each
reported (partition, offset) the one the log holds.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from confluent_kafka import Producer

from labkit.domain.partitioning import SectionBasedPartitionStrategy
from labkit.domain.seating import SeatingConfig
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.reading import LogRecord, read_topic

if TYPE_CHECKING:
    from labkit.lab import Lab

PARTITIONS, REQUESTS = 20, 30
Requests = list[dict[str, Any]]


def _requests(seating: SeatingConfig, seed: int) -> Requests:
    chooser = random.Random(seed)
    subsections = list(seating.subsection_ids())
    return [
        {"booking_id": f"b-{i:03d}", "section": section, "subsection": subsection}
        for i, (section, subsection) in enumerate(chooser.choice(subsections) for _ in range(REQUESTS))
    ]


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function send_requests(config, topic, requests, strategy), got {answer!r}")
    strategy = SectionBasedPartitionStrategy(SeatingConfig.default(), PARTITIONS)
    requests = _requests(strategy.seating, seed=event_id)
    topic, _ = scratch_name(event_id, "routing")
    config = {**lab.kafka_config, "acks": "all", "enable.idempotence": True}
    with scratch_topic(lab, topic, PARTITIONS):
        try:
            reports = answer(dict(config), topic, requests, strategy)
        except Exception as error:  # the learner's code: any error is a verdict, not a crash
            return wrong(f"your function raised {type(error).__name__}: {error}")
        in_log = {r.value.decode(errors="replace"): r for r in read_topic(lab.bootstrap_servers, topic)}
    return _verdict(requests, strategy, reports, in_log)


def _verdict(
    requests: Requests, strategy: SectionBasedPartitionStrategy, reports: Any, in_log: dict[str, LogRecord]
) -> Verdict:
    missing = [r["booking_id"] for r in requests if r["booking_id"] not in in_log]
    if len(missing) == len(requests):
        return wrong(
            f"none of the {len(requests)} requests reached the topic before your function returned: produce() only "
            "queues a record in the producer; flush() sends what is queued and waits for every delivery report"
        )
    problems = [f"{len(missing)} requests never reached the topic: {missing[:5]} (flush() before returning?)"]
    problems = problems if missing else []
    for request in requests:
        record = in_log.get(request["booking_id"])
        want = strategy.get_partition_for_subsection(request["section"], request["subsection"])
        if record is not None and record.key != where(request):
            problems.append(f"{request['booking_id']} has key {record.key!r}: the key asked for is {where(request)!r}")
        if record is not None and record.partition != want:
            problems.append(
                f"{request['booking_id']} for {where(request)} landed in partition {record.partition}, its "
                f"subsection's is {want}: pass partition=strategy.get_partition_for_subsection(…) to produce()"
            )
    if problems:
        return wrong(*problems)
    return _reports_verdict(requests, reports, in_log)


def where(request: dict[str, Any]) -> str:
    """The request's subsection, as its key: "C-4"."""
    return f"{request['section']}-{request['subsection']}"


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _reports_verdict(requests: Requests, reports: Any, in_log: dict[str, LogRecord]) -> Verdict:
    try:
        reported = {_text(value): (int(partition), int(offset)) for value, partition, offset in reports}
    except (TypeError, ValueError):
        return wrong(
            "every request is where it belongs; now return [(booking_id, partition, offset), …] from the delivery "
            f"callback's messages (msg.value(), msg.partition(), msg.offset()); you returned {reports!r:.80}"
        )
    if not reported:
        return wrong(
            "every request is in its partition, but you reported no delivery: the callbacks run only inside "
            "poll() or flush(), so call flush() before returning the list your callback filled"
        )
    actual = {value: (r.partition, r.offset) for value, r in in_log.items()}
    differ = [
        f"{value}: you reported {reported.get(value)}, the log has it at {where}"
        for value, where in actual.items()
        if reported.get(value) != where
    ]
    if differ:
        return wrong(f"{len(differ)} delivery report(s) differ from the log (partition, offset):", *differ)
    partitions = len({p for p, _ in actual.values()})
    return correct(
        f"all {len(requests)} requests in their subsections' partitions ({partitions} partitions used), and every "
        "delivery report names the partition and offset the log holds: the broker assigned the offset, and the "
        "callback is the producer's only way to learn it."
    )


def _reference(config: dict[str, Any], topic: str, requests: list[dict[str, Any]], strategy: Any) -> list[Any]:
    producer = Producer(config)
    delivered = []

    def on_delivery(error: Any, message: Any) -> None:  # called from poll() or flush(), once per record
        if error is None:
            delivered.append((message.value().decode(), message.partition(), message.offset()))

    for request in requests:
        producer.produce(
            topic,
            key=f"{request['section']}-{request['subsection']}",
            value=request["booking_id"],
            partition=strategy.get_partition_for_subsection(request["section"], request["subsection"]),
            on_delivery=on_delivery,
        )
        producer.poll(0)  # serve the callbacks of earlier records
    producer.flush(30)  # send what is queued and wait for every delivery report
    return delivered


routed_producer = Exercise(
    key="02.routed_producer",
    notebook="02_partitioning",
    title="a producer that routes by the spec's partitioner and reports where each record landed",
    statement=(
        "Write `send_requests(config, topic, requests, strategy)`: build a Producer from `config`, send each "
        "request (a dict with booking_id, section, subsection) to `topic` with the subsection as the key, the "
        "booking id as the value and the partition that `strategy.get_partition_for_subsection(section, "
        "subsection)` gives, and return [(booking_id, partition, offset), …] as the delivery callback reported "
        f"them. The check sends {REQUESTS} requests to a fresh topic of {PARTITIONS} partitions, reads it back and "
        "says which request is missing, misplaced or misreported."
    ),
    hints=(
        "producer.produce(topic, key=…, value=…, partition=…, on_delivery=callback)",
        "the callback gets (error, message): message.partition() and message.offset() say where it landed",
        "produce() only queues; flush() waits until every record is delivered and every callback has run",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (routed_producer,)
