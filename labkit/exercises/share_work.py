"""Notebook 14's code exercise: a share consumer that rejects malformed booking requests and accepts the rest.

The check writes booking requests to a fresh topic of one partition, a few of them malformed, and hands the
learner's `work_through(config, topic, count)` the config of a fresh share group. The function returns the
requests it accepted. The check compares them with the well-formed ones it wrote, then joins the group itself:
every record the learner released, or left unacknowledged, comes back to it (at once, or when its lock runs out).
The brokers keep no trace of which acknowledgement ended a record, so while the function runs, the ShareConsumer
it names (in its module's globals) is one that records each acknowledgement on its way to the brokers: ACCEPT
against REJECT of a malformed record, and implicit mode (every record accepted), are told apart from that.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import confluent_kafka
from confluent_kafka import AcknowledgeType, Producer, ShareConsumer

from labkit.domain.messages import MessageError, ReserveSeats, decode, encode
from labkit.errors import LabkitError, WaitTimeout
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
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
            lab.kafka_config,
            group,
            {"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": str(lock_ms)},
        )
        try:
            try:
                with _recording(answer) as seen:
                    accepted = answer(dict(config), topic, len(values))
            except Exception as error:  # the learner's code: any error is a verdict, not a crash
                return wrong(f"your function raised {type(error).__name__}: {error}")
            verdict = _accepted_verdict(accepted, requests) or _acknowledged_verdict(seen, len(values))
            if verdict is not None:
                return verdict
            wait = (lock_ms + 4 * heartbeat_ms) / 1000 + 2
            back = _come_back(config, topic, wait)
        finally:
            # a learner's consumer still open is still a member: then its group stays (named under the event)
            with contextlib.suppress(WaitTimeout):
                delete_share_groups(lab.kafka_config, [group])
    if back:
        return _came_back_verdict(back)
    how = "rejected" if seen.watched and seen.modes else "ended"
    return correct(
        f"you accepted the {WELL_FORMED} well-formed requests and {how} the {len(MALFORMED)} malformed ones; a new "
        f"member of the group got nothing back in {wait:.0f} s (the lock is {lock_ms / 1000:.0f} s): no record was "
        "released or left unacknowledged"
    )


def _write(config: dict[str, str], topic: str, values: list[bytes]) -> None:
    producer = Producer(config)
    for value in values:
        producer.produce(topic, value=value)
    if producer.flush(30):
        raise LabkitError(f"the check could not write its {len(values)} records to {topic}")


def _accepted_verdict(accepted: object, requests: list[ReserveSeats]) -> Verdict | None:
    if not isinstance(accepted, list) or not all(isinstance(r, ReserveSeats) for r in accepted):
        return wrong(
            f"return the list of ReserveSeats you accepted (decode(message.value(), ReserveSeats)), got "
            f"{type(accepted).__name__}"
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


@dataclass
class _Seen:
    """What the learner's share consumers did: their acknowledgement modes, and each acknowledgement by offset."""

    modes: list[str] = field(default_factory=list)
    acks: dict[int, str] = field(default_factory=dict)
    watched: bool = False  # the function names confluent_kafka's ShareConsumer in its globals


@contextlib.contextmanager
def _recording(answer: Callable[..., Any]) -> Iterator[_Seen]:
    """While the block runs, the ShareConsumer of `answer`'s globals records what it is told to acknowledge. (The
    real class is read from confluent_kafka itself: the reference solution's globals are this module's.)"""
    real = confluent_kafka.ShareConsumer
    seen = _Seen()

    class RecordingShareConsumer(confluent_kafka.ShareConsumer):  # type: ignore[misc]
        def __init__(self, config: dict[str, Any]) -> None:
            super().__init__(config)
            seen.modes.append(str(config.get("share.acknowledgement.mode", "implicit")))

        def acknowledge(self, message: Any, ack_type: Any = AcknowledgeType.ACCEPT) -> None:
            super().acknowledge(message, ack_type)
            seen.acks[position(message)[2]] = AcknowledgeType(ack_type).name

    names = [name for name, value in getattr(answer, "__globals__", {}).items() if value is real]
    for name in names:
        answer.__globals__[name] = RecordingShareConsumer
    seen.watched = bool(names)
    try:
        yield seen
    finally:
        for name in names:
            answer.__globals__[name] = real


def _acknowledged_verdict(seen: _Seen, count: int) -> Verdict | None:
    if not seen.watched or not seen.modes:
        return None  # a ShareConsumer the check could not watch: what comes back to the group decides
    if "explicit" not in seen.modes:
        return wrong(
            f"your ShareConsumer ran in {seen.modes[0]} acknowledgement mode: every record a poll() returns is "
            "then accepted at the next poll(), the malformed ones too. Set 'share.acknowledgement.mode': 'explicit' "
            "and acknowledge each record"
        )
    not_rejected = {o: seen.acks.get(o, "never acknowledged") for o in MALFORMED if seen.acks.get(o) != "REJECT"}
    if not_rejected:
        return wrong(
            f"the malformed records were acknowledged {not_rejected} (by offset): REJECT each, so that it is never "
            "delivered again and never counted as done"
        )
    not_accepted = {o: seen.acks.get(o, "never acknowledged") for o in range(count) if o not in MALFORMED}
    not_accepted = {o: a for o, a in not_accepted.items() if a != "ACCEPT"}
    if not_accepted:
        return wrong(f"ACCEPT every well-formed request; these were acknowledged {not_accepted} (by offset)")
    return None


def _come_back(config: dict[str, Any], topic: str, seconds: float) -> list[tuple[int, int]]:
    """(offset, delivery count) of every record a new member of the group gets within `seconds`: each one was
    released or never acknowledged (the check ends each with REJECT, so that it is not delivered again)."""
    consumer = ShareConsumer({**config, "share.acknowledgement.mode": "explicit"})
    consumer.subscribe([topic])
    back: list[tuple[int, int]] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for message in consumer.poll(0.5):
                if message.error() is None:
                    back.append((position(message)[2], message.delivery_count() or 0))
                    consumer.acknowledge(message, AcknowledgeType.REJECT)
    finally:
        consumer.close()
    return back


def _came_back_verdict(back: list[tuple[int, int]]) -> Verdict:
    if len(back) == WELL_FORMED + len(MALFORMED):
        return wrong(
            f"all {len(back)} records came back to a new member of the group (delivery count "
            f"{sorted({n for _, n in back})}): your acknowledgements never reached the brokers. They travel with the "
            "next poll(), commit_sync() or close(): commit_sync() and close() before you return"
        )
    malformed = [(o, n) for o, n in back if o in MALFORMED]
    problems = []
    if malformed:
        problems.append(
            f"the malformed record(s) at offset(s) {[o for o, _ in malformed]} came back to a new member of the "
            f"group (delivery count {sorted({n for _, n in malformed})}): you released them, or never acknowledged "
            "them. A malformed record does not get better by trying again: REJECT it"
        )
    well_formed = [o for o, _ in back if o not in MALFORMED]
    if well_formed:
        problems.append(
            f"the well-formed record(s) at offset(s) {well_formed} came back: ACCEPT each, and commit_sync() or "
            "close() before you return, so that the acknowledgements reach the brokers"
        )
    return wrong(*problems)


def _reference(config: dict[str, Any], topic: str, count: int) -> list[ReserveSeats]:
    consumer = ShareConsumer({**config, "share.acknowledgement.mode": "explicit"})
    consumer.subscribe([topic])
    accepted: list[ReserveSeats] = []
    acknowledged = 0
    try:
        while acknowledged < count:
            for message in consumer.poll(1.0):
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
