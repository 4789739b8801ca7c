"""Notebook 15's code exercise: seats sold per section per minute, each booking counted once, with quixstreams.

The check writes seat-reserved replies (labkit's codec, keyed by booking like the service's) to a fresh topic of
one partition, over four minutes of record time that ended ten minutes ago, with a few replies delivered twice.
It builds the quixstreams Application (a fresh consumer group and state directory) and hands the learner's
`sales_per_minute(app, topic)` the app and the input topic; the function returns the StreamingDataFrame whose
outputs are the windows. The check runs the app until the topic is drained and compares the last value of each
(section, window) with the sums it computed from what it wrote (`window_sums`). One partition, written in time
order: no record arrives after a later one of its section has closed its window.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from labkit.domain.messages import SeatReserved, encode
from labkit.domain.naming import PartitionKeyBuilder
from labkit.errors import LabkitError
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.stream_processing import delete_internal_topics, internal_topics, signals_kept, window_sums

if TYPE_CHECKING:  # quixstreams is imported when a check runs: it takes over a second, and most notebooks never ask
    from quixstreams import Application
    from quixstreams.dataframe import StreamingDataFrame
    from quixstreams.models import Topic

    from labkit.lab import Lab

MINUTE_MS = 60_000
MINUTES = 4
PER_MINUTE = 6  # replies a minute, two per section
REDELIVERED = (1, 6, 13, 20)  # these replies are written a second time, 20 s after the first
RUN_TIMEOUT = 8.0  # s without a new record before the check stops the app (after its assignment)


def _replies(event_id: int) -> list[tuple[int, SeatReserved]]:
    """(timestamp ms, reply) in time order: minute m of four, two bookings per section each, 1-4 seats."""
    start = (int(time.time() * 1000) - 10 * MINUTE_MS) // MINUTE_MS * MINUTE_MS - MINUTES * MINUTE_MS
    written: list[tuple[int, SeatReserved]] = []
    for i in range(MINUTES * PER_MINUTE):
        minute, within = divmod(i, PER_MINUTE)
        section = "ABC"[(minute + within) % 3]
        seats = tuple(f"{section}-1-1-{n}" for n in range(1 + i % 4))
        reply = SeatReserved(str(uuid.uuid4()), event_id, section, 1, seats, 10 * len(seats), 500, len(seats))
        written.append((start + minute * MINUTE_MS + within * 9_000 + 1_000, reply))
    written += [(written[i][0] + 20_000, written[i][1]) for i in REDELIVERED]
    return sorted(written, key=lambda pair: pair[0])


def _expected(written: list[tuple[int, SeatReserved]]) -> dict[tuple[str, int], int]:
    seen: set[str] = set()
    first = []
    for timestamp, reply in written:
        if reply.booking_id not in seen:
            seen.add(reply.booking_id)
            first.append((reply.section, timestamp, len(reply.seats)))
    return window_sums(first, MINUTE_MS)


def _write(config: dict[str, Any], topic: str, event_id: int, written: list[tuple[int, SeatReserved]]) -> None:
    producer = Producer(config)
    for timestamp, reply in written:
        key = PartitionKeyBuilder.booking_with_id(event_id, reply.booking_id)
        producer.produce(topic, value=encode(reply), key=key, partition=0, timestamp=timestamp)
    if producer.flush(30):
        raise LabkitError(f"the check could not write its {len(written)} replies to {topic}")


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    from quixstreams import Application
    from quixstreams.kafka.configuration import ConnectionConfig

    if not callable(answer):
        return wrong(f"answer with your function sales_per_minute(app, topic), got {answer!r}")
    topic, group = scratch_name(event_id, "windows")
    written = _replies(event_id)
    state_dir = tempfile.mkdtemp(prefix="labkit-exercise-state-")
    try:
        with scratch_topic(lab, topic, partitions=1):
            _write(lab.kafka_config, topic, event_id, written)
            app = Application(
                broker_address=ConnectionConfig.from_librdkafka_dict(lab.kafka_config, ignore_extras=True),
                consumer_group=group,
                auto_offset_reset="earliest",
                state_dir=state_dir,
                loglevel="WARNING",
            )
            try:
                replies = app.topic(topic, key_deserializer="str", value_deserializer="json")
                return _run(answer, app, replies, written, lambda: _check_read_everything(lab, group, topic))
            finally:
                with contextlib.suppress(KafkaException, LabkitError):  # deleted with the event in any case
                    delete_internal_topics(lab.admin, [group])
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def _run(
    answer: Any,
    app: Application,
    topic: Topic,
    written: list[tuple[int, SeatReserved]],
    check_read_everything: Callable[[], None],
) -> Verdict:
    from quixstreams.dataframe import StreamingDataFrame

    try:
        with signals_kept():
            dataframe = answer(app, topic)
    except Exception as error:  # the learner's code: any error is a verdict, not a crash
        return wrong(f"your function raised {type(error).__name__}: {error}")
    if not isinstance(dataframe, StreamingDataFrame):
        return wrong(
            f"return the StreamingDataFrame of windows (app.dataframe(topic) …), got {type(dataframe).__name__}"
        )
    try:
        with signals_kept():
            outputs = app.run(timeout=RUN_TIMEOUT, metadata=True)
    except Exception as error:  # raised in the learner's callbacks while the app ran
        return wrong(f"the app stopped on {type(error).__name__}: {error}")
    verdict = _windows_verdict(outputs, _expected(written), written)
    if not verdict.solved:
        check_read_everything()  # a wrong verdict must not be a slow machine's
    return verdict


def _shape_verdict(outputs: list[dict[str, Any]]) -> Verdict | None:
    """What is wrong with the outputs' form (not windows, not a minute, not per section), if anything."""
    if not outputs:
        return wrong("your dataframe gave no output: return it after `.current()` (`.final()` waits for later records)")
    if not all({"start", "end", "value"} <= set(o) for o in outputs):
        return wrong(
            "give the windows themselves: `.tumbling_window(...).sum().current()` gives {'start', 'end', 'value'}; "
            f"your first output was {_without_metadata(outputs[0])}"
        )
    if not all(isinstance(o[f], int) for o in outputs for f in ("start", "end", "value")):
        return wrong(
            "a window's start, end and value are numbers: the value is the seats sold in it, "
            f"`.sum()` of `len(reply['seats'])`; your first output was {_without_metadata(outputs[0])}"
        )
    sizes = sorted({o["end"] - o["start"] for o in outputs})
    if sizes != [MINUTE_MS]:
        return wrong(f"windows of a minute (60,000 ms): yours were {sizes} ms long")
    keys = {repr(o["_key"]) if not isinstance(o["_key"], str) else o["_key"] for o in outputs}
    if not keys <= {"A", "B", "C"}:
        return wrong(
            f"the windows are per {sorted(map(str, keys))[0]!r}, …: a window sums per message key, and the replies "
            "are keyed by booking. Re-key them by section first: group_by('section')"
        )
    return None


def _windows_verdict(
    outputs: list[dict[str, Any]], expected: dict[tuple[str, int], int], written: list[tuple[int, SeatReserved]]
) -> Verdict:
    shape = _shape_verdict(outputs)
    if shape is not None:
        return shape
    got = {(o["_key"], o["start"]): o["value"] for o in outputs}  # the last value of each window
    missing = sorted(set(expected) - set(got))
    last = {max((k for k in expected if k[0] == section), key=lambda k: k[1]) for section, _ in expected}
    if missing and set(missing) != last:
        return wrong(
            f"no output for {len(missing)} window(s) where seats were sold, e.g. section {missing[0][0]} from "
            f"{_clock(missing[0][1])}: records were dropped before the windows. Count each booking once, but every "
            "booking: filter by booking before group_by (after it the state is the section's, and every later "
            "booking of the section looks seen)"
        )
    if missing:
        return wrong(
            f"no output for {len(missing)} window(s), e.g. section {missing[0][0]} from {_clock(missing[0][1])}: "
            "`.final()` gives a window only when a later record of its section closes it, and the last window of "
            "each section never closes here. Use `.current()`"
        )
    doubled = {k for k, v in got.items() if k in expected and v > expected[k]}
    if doubled:
        twice = len(REDELIVERED)
        return wrong(
            f"{len(doubled)} window(s) count more seats than were sold (e.g. section {min(doubled)[0]} from "
            f"{_clock(min(doubled)[1])}: {got[min(doubled)]} against {expected[min(doubled)]}): {twice} replies were "
            "delivered twice. Count each booking once: a stateful filter keyed by booking, before group_by"
        )
    short = {k for k, v in expected.items() if got[k] < v}
    if short:
        return wrong(
            f"{len(short)} window(s) count fewer seats than were sold (e.g. section {min(short)[0]} from "
            f"{_clock(min(short)[1])}: {got[min(short)]} against {expected[min(short)]}). Count each booking once, "
            "but every booking: filter by booking before group_by (after it the state is the section's, and every "
            "later booking of the section looks seen), and sum len(reply['seats'])"
        )
    extra = sorted(set(got) - set(expected))
    if extra:
        return wrong(
            f"{len(extra)} window(s) where nothing was sold, e.g. section {extra[0][0]} from {_clock(extra[0][1])}: "
            "tumbling windows of a minute, one window per record"
        )
    return correct(
        f"{len(expected)} windows of a minute over {len({r.section for _, r in written})} sections, each the seats "
        f"sold in it; the {len(REDELIVERED)} replies delivered twice were counted once"
    )


def _check_read_everything(lab: Lab, group: str, topic: str) -> None:
    """LabkitError if the app stopped (RUN_TIMEOUT s without a record) before its group had committed the end of
    the input and of its repartition topics: a machine too slow for the check, not a wrong answer."""
    probe = Consumer({**lab.kafka_config, "group.id": group})  # reads the group's offsets; never joins
    behind = []
    try:
        listed = lab.admin.client.list_topics(timeout=10).topics
        read = [topic] + [t for t in internal_topics(listed, [group]) if t.startswith("repartition__")]
        for name in read:
            for committed in probe.committed([TopicPartition(name, p) for p in listed[name].partitions], 10):
                end = probe.get_watermark_offsets(committed, timeout=10)[1]
                if max(committed.offset, 0) < end:
                    behind.append(f"{name}[{committed.partition}] at {committed.offset} of {end}")
    except KafkaException as error:
        raise LabkitError(f"the check could not read your app's offsets ({error}): run it again") from None
    finally:
        probe.close()
    if behind:
        raise LabkitError(
            f"the check stopped your app after {RUN_TIMEOUT:.0f} s without a record, before it had read everything "
            f"({', '.join(behind)}): this machine was too slow for the check. Run it again"
        )


def _without_metadata(output: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in output.items() if not k.startswith("_")}


def _clock(start_ms: int) -> str:
    return time.strftime("%H:%M", time.gmtime(start_ms / 1000)) + " UTC"


def _reference(app: Application, topic: Topic) -> StreamingDataFrame:
    def first_delivery(reply: dict[str, Any], state: Any) -> bool:
        if state.exists("seen"):  # state is per message key: per booking here
            return False
        state.set("seen", True)
        return True

    sdf = app.dataframe(topic)
    sdf = sdf.filter(first_delivery, stateful=True)
    sdf = sdf.group_by("section")
    sdf = sdf.apply(lambda reply: len(reply["seats"]))
    return sdf.tumbling_window(duration_ms=MINUTE_MS).sum().current()


sales_per_minute = Exercise(
    key="15.sales_per_minute",
    notebook="15_stateful_processing",
    title="seats sold per section per minute, each booking counted once",
    statement=(
        "Write `sales_per_minute(app, topic)`. `app` is a quixstreams Application (a fresh consumer group, from the "
        "earliest offset) and `topic` its input: seat-reserved replies in labkit's JSON, keyed by booking, over "
        f"{MINUTES} minutes of record time; {len(REDELIVERED)} of them were delivered twice. Return the "
        "StreamingDataFrame whose outputs are tumbling windows of one minute, one per section (the message key), "
        "whose value is the seats sold in it (`len(reply['seats'])`), each booking counted once, given as they "
        "grow (`.current()`). The check runs the app and compares the last value of each window with what it wrote."
    ),
    hints=(
        "sdf = app.dataframe(topic); a filter with stateful=True sees the state of the record's key: here, its booking",
        "state.exists('seen') is False the first time a booking comes; state.set('seen', True) remembers it. Then "
        "group_by('section') re-keys the records, and .apply(lambda reply: len(reply['seats']))",
        ".tumbling_window(duration_ms=60_000).sum().current()",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (sales_per_minute,)
