"""Notebook 14's code exercise: a share consumer that rejects malformed booking requests and accepts the rest.

The check writes booking requests to a fresh topic of one partition, a few of them malformed, and hands the
learner's `work_through(config, topic, count)` the config of a fresh share group. The function returns the
requests it accepted. The check compares them with the well-formed ones it wrote, and the acknowledgements the
learner's ShareConsumer made with what each record deserved (share_watch: the brokers keep no trace of which one
ended a record). Then it joins the group itself, with a marker record behind the learner's: every record the
learner released, or whose acknowledgement never reached the brokers, comes back to it (at once, or when its lock
runs out).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from confluent_kafka import AcknowledgeType, KafkaException, Producer, ShareConsumer

from labkit.domain.messages import MessageError, ReserveSeats, decode, encode
from labkit.errors import LabkitError, WaitTimeout
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.exercises.share_watch import CheckDeadline, Watch, watching
from labkit.experiments.share_groups import configure_share_group, delete_share_groups
from labkit.kafka.admin import broker_configs
from labkit.kafka.worker import position

if TYPE_CHECKING:
    from labkit.lab import Lab

WELL_FORMED = 12
MALFORMED = {  # offset → value
    2: b"not json at all",
    5: b'{"schema":1,"type":"reserve-seats","booking_id":"b-5"}',
    9: b'{"schema":1,"type":"seat-reserved","booking_id":"b-9"}',
    13: b"",
}
LOCK_MS = 2000  # the check's record lock, or the brokers' minimum if that is longer
ANSWER_SECONDS = 60  # for the learner's function, besides a heartbeat to join: the reference takes a second or two
MARKER = b"the check's marker"


def _requests(event_id: int) -> list[ReserveSeats]:
    return [
        ReserveSeats(str(uuid.uuid4()), event_id, "exercise", "ABCD"[i % 4], 1 + i % 3, "best_available", 1 + i % 2)
        for i in range(WELL_FORMED)
    ]


def _values(requests: list[ReserveSeats]) -> list[bytes]:
    """The requests encoded, with the malformed values at their offsets."""
    left = iter(requests)
    return [MALFORMED[i] if i in MALFORMED else encode(next(left)) for i in range(len(requests) + len(MALFORMED))]


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function work_through(config, topic, count), got {answer!r}")
    topic, group = scratch_name(event_id, "share")
    settings = broker_configs(lab.admin)
    lock_ms = max(LOCK_MS, int(settings.get("group.share.min.record.lock.duration.ms", "15000")))
    heartbeat_ms = int(settings.get("group.share.heartbeat.interval.ms", "5000"))
    requests = _requests(event_id)
    values = _values(requests)
    config = {**lab.kafka_config, "group.id": group}
    with scratch_topic(lab, topic, partitions=1):
        _write(lab.kafka_config, topic, values)
        configure_share_group(
            lab.admin, group, {"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": str(lock_ms)}
        )
        with watching(answer, ANSWER_SECONDS + heartbeat_ms / 1000) as watch:
            try:
                verdict = _run(answer, config, topic, len(values), requests, watch)
                if verdict is None:
                    wait = (lock_ms + 4 * heartbeat_ms) / 1000 + 2
                    verdict = _came_back_verdict(_come_back(config, topic, wait), watch, wait, lock_ms)
            finally:
                watch.close_left_open()
                with contextlib.suppress(WaitTimeout):  # a member left in a hung loop: the group stays
                    delete_share_groups(lab.admin, [group], timeout=heartbeat_ms / 1000 * 4)
    return verdict


def _run(
    answer: Callable[..., Any],
    config: dict[str, Any],
    topic: str,
    count: int,
    requests: list[ReserveSeats],
    watch: Watch,
) -> Verdict | None:
    """The learner's function run and judged by what it returned and acknowledged; None if nothing is wrong yet."""
    try:
        accepted = answer(dict(config), topic, count)
    except CheckDeadline:
        return wrong(
            f"your function was still polling after {ANSWER_SECONDS} s: stop once all `count` records are "
            "acknowledged, the rejected ones counted too"
        )
    except Exception as error:  # the learner's code: any error is a verdict, not a crash
        return wrong(f"your function raised {type(error).__name__}: {error}")
    return _accepted_verdict(accepted, requests) or _acknowledged_verdict(watch, config["group.id"], count)


def _write(config: dict[str, str], topic: str, values: list[bytes]) -> None:
    producer = Producer(config)
    for value in values:
        producer.produce(topic, value=value)
    if producer.flush(30):
        raise LabkitError(f"the check could not write its {len(values)} records to {topic}")


def _kind(value: object) -> str:
    """`list of dict`, `tuple`, …: what a learner returned."""
    if isinstance(value, list) and value:
        return f"a list of {', '.join(sorted({type(v).__name__ for v in value}))}"
    return type(value).__name__


def _accepted_verdict(accepted: object, requests: list[ReserveSeats]) -> Verdict | None:
    if not isinstance(accepted, list) or not all(isinstance(r, ReserveSeats) for r in accepted):
        return wrong(
            f"return the list of ReserveSeats you accepted (decode(message.value(), ReserveSeats)), got "
            f"{_kind(accepted)}"
        )
    got = [r.booking_id for r in accepted]
    sent = [r.booking_id for r in requests]
    if len(got) != len(set(got)):
        return wrong(f"{len(got) - len(set(got))} request(s) accepted twice: acknowledge each record once")
    missing = set(sent) - set(got)
    if missing:
        return wrong(
            f"{len(missing)} of the {WELL_FORMED} well-formed requests are not among those you returned: "
            f"accept every request that decodes"
        )
    if set(got) != set(sent):
        return wrong(f"you returned {len(set(got) - set(sent))} request(s) the check did not write")
    return None


def _acknowledged_verdict(watch: Watch, group: str, count: int) -> Verdict | None:
    if not watch.consumers:
        return wrong(
            "the check saw no ShareConsumer of yours: build it as ShareConsumer(...), imported with "
            "`from confluent_kafka import ShareConsumer`"
        )
    groups = {c.get("group.id") for c in watch.configs}
    if groups != {group}:
        return wrong(f"your ShareConsumer joined {sorted(map(str, groups))}: build it from `config` (group {group})")
    if "explicit" not in watch.modes:
        return wrong(
            f"your ShareConsumer ran in {watch.modes[0]} acknowledgement mode: every record a poll() returns is "
            "then accepted by the next poll(), the malformed ones too. Set 'share.acknowledgement.mode': "
            "'explicit' and acknowledge each record"
        )
    acks = {offset: watch.acks.get(offset, "never acknowledged") for offset in range(count)}
    not_rejected = {o: a for o, a in acks.items() if o in MALFORMED and a != "REJECT"}
    if not_rejected:
        return wrong(
            f"the malformed records were acknowledged {not_rejected} (by offset): REJECT each, so that it is never "
            "delivered again and never counted as done"
        )
    not_accepted = {o: a for o, a in acks.items() if o not in MALFORMED and a != "ACCEPT"}
    if not_accepted:
        return wrong(f"ACCEPT every well-formed request; these were acknowledged {not_accepted} (by offset)")
    return None


def _come_back(config: dict[str, Any], topic: str, seconds: float) -> list[tuple[int, int]]:
    """(offset, delivery count) of every record a new member of the group gets within `seconds`: each one was
    released or its acknowledgement never reached the brokers. A marker written first must arrive too: it shows
    that the check's consumer was fetching. The check REJECTs what it gets, so that nothing is delivered again."""
    _write({k: v for k, v in config.items() if k != "group.id"}, topic, [MARKER])
    consumer = ShareConsumer({**config, "share.acknowledgement.mode": "explicit"})
    consumer.subscribe([topic])
    back: list[tuple[int, int]] = []
    marker_seen, deadline = False, time.monotonic() + seconds
    try:
        while time.monotonic() < deadline or (not marker_seen and time.monotonic() < deadline + seconds):
            for message in consumer.poll(0.5):
                if message.error() is None:
                    consumer.acknowledge(message, AcknowledgeType.REJECT)
                    if message.value() == MARKER:
                        marker_seen = True
                    else:
                        back.append((position(message)[2], message.delivery_count() or 0))
    finally:
        consumer.close()
    if not marker_seen:
        raise LabkitError(f"the check's own share consumer got not even its marker from {topic} in {2 * seconds:.0f} s")
    return back


def _came_back_verdict(back: list[tuple[int, int]], watch: Watch, wait: float, lock_ms: int) -> Verdict:
    if not back:
        return correct(
            f"you accepted the {WELL_FORMED} well-formed requests and rejected the {len(MALFORMED)} malformed ones; "
            f"a new member of the group got nothing back in {wait:.0f} s (the lock is {lock_ms / 1000:.0f} s)"
        )
    counts = sorted({n for _, n in back})
    unsent = [o for o, _ in back if watch.acks.get(o) in ("ACCEPT", "REJECT")]
    if unsent:
        return wrong(
            f"{len(unsent)} record(s) you acknowledged came back to a new member of the group (offsets {unsent}, "
            f"delivery count {counts}): your acknowledgements never reached the brokers. They travel with the next "
            "poll(), commit_sync() or close(): commit_sync() and close() before you return"
        )
    return wrong(
        f"the records at offsets {[o for o, _ in back]} came back to a new member of the group (delivery count "
        f"{counts}): you released them, or never acknowledged them"
    )


def _reference(config: dict[str, Any], topic: str, count: int) -> list[ReserveSeats]:
    consumer = ShareConsumer({**config, "share.acknowledgement.mode": "explicit"})
    consumer.subscribe([topic])
    accepted: list[ReserveSeats] = []
    acknowledged = 0
    try:
        while acknowledged < count:
            for message in consumer.poll(1.0):
                if message.error() is not None:
                    raise KafkaException(message.error())
                try:
                    request = decode(message.value(), ReserveSeats)
                except MessageError:
                    consumer.acknowledge(message, AcknowledgeType.REJECT)
                else:
                    consumer.acknowledge(message, AcknowledgeType.ACCEPT)
                    accepted.append(request)
                acknowledged += 1
        consumer.commit_sync()
    finally:
        consumer.close()
    return accepted


rejecting_worker = Exercise(
    key="14.rejecting_worker",
    notebook="14_share_groups",
    title="a share consumer that rejects malformed booking requests and accepts the rest",
    statement=(
        "Write `work_through(config, topic, count)`. `config` names a fresh share group (`group.id`) that starts at "
        f"the log's start; `topic` holds `count` records, {WELL_FORMED} booking requests in labkit's JSON codec and "
        f"{len(MALFORMED)} malformed ones among them. Build a ShareConsumer in explicit acknowledgement mode, "
        "decode each record with `decode(message.value(), ReserveSeats)`, ACCEPT those that decode and REJECT "
        "those that raise MessageError, until all `count` are acknowledged; then commit and close. Return the "
        "requests you accepted. The check then joins your group: any record you released or left "
        "unacknowledged comes back to it."
    ),
    hints=(
        "ShareConsumer({**config, 'share.acknowledgement.mode': 'explicit'}); subscribe([topic]); poll(1.0) "
        "returns a list of messages",
        "consumer.acknowledge(message, AcknowledgeType.REJECT) ends a record for good; RELEASE would hand it out "
        "again, up to the brokers' delivery limit",
        "count the records you acknowledged, not the polls; then consumer.commit_sync() and consumer.close()",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (rejecting_worker,)
