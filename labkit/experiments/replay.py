"""The bookings view rebuilt from the reply topics alone: a read model replayed from the log (notebooks 06, 08).

The seat-reservation service's replies (`seat-reserved`, `seat-reservation-failed`) say, per booking id, what
happened to it. Read from offset 0 they rebuild the ticketing service's view — booking → status, seats,
reason — without asking Redis; read from a moment (`labkit.experiments.reading.offsets_at`) they replay only what came
since. A booking answered twice (at-least-once) has two replies with the same answer: the view keeps one.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from labkit.domain.messages import SeatReservationFailed, SeatReserved, decode
from labkit.domain.naming import KafkaTopicBuilder
from labkit.errors import MessageError
from labkit.experiments.reading import LogRecord, Start, offsets_at, read_topic

REPLY_COLUMNS = ["topic", "partition", "offset", "timestamp", "booking_id", "status", "seats", "reason"]
VIEW_COLUMNS = ["booking_id", "status", "seats", "reason"]


def reply_topics(event_id: int) -> list[str]:
    return [
        KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id),
        KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(event_id),
    ]


def read_replies(bootstrap_servers: str, event_id: int, since_ms: int | None = None) -> pd.DataFrame:
    """Every reply of the event — from offset 0, or only those written at or after `since_ms` (epoch ms, found
    with offsets_for_times) — one row per record: topic, partition, offset, timestamp, booking_id, status,
    seats, reason."""
    records = []
    for topic in reply_topics(event_id):
        start: Start = "earliest" if since_ms is None else offsets_at(bootstrap_servers, topic, since_ms)
        records += read_topic(bootstrap_servers, topic, start)
    return replies_frame(records)


def replies_frame(records: Iterable[LogRecord]) -> pd.DataFrame:
    """Records of the reply topics, decoded strictly (labkit.domain.messages): a malformed one raises MessageError."""
    rows = []
    for record in records:
        reply = decode(record.value)
        if isinstance(reply, SeatReserved):
            status, seats, reason = "RESERVED", tuple(sorted(reply.seats)), None
        elif isinstance(reply, SeatReservationFailed):
            status, seats, reason = "FAILED", (), reply.reason
        else:
            raise MessageError(f"{record.topic}[{record.partition}]@{record.offset} is a {type(reply).__name__}")
        timestamp = pd.Timestamp(record.timestamp_ms, unit="ms")
        rows.append((record.topic, record.partition, record.offset, timestamp, reply.booking_id, status, seats, reason))
    return pd.DataFrame(rows, columns=REPLY_COLUMNS)


def bookings_view(replies: pd.DataFrame) -> pd.DataFrame:
    """booking_id → status, seats, reason: the last reply of each booking, sorted by booking id."""
    latest = replies.sort_values("timestamp", kind="stable").drop_duplicates("booking_id", keep="last")
    view = latest[VIEW_COLUMNS].sort_values("booking_id").reset_index(drop=True)
    view["reason"] = view.reason.astype(object).where(view.reason.notna(), None)  # None, as the store's view has
    return view


def store_view(bookings: pd.DataFrame) -> pd.DataFrame:
    """`Lab.bookings()` in bookings_view's shape, for comparing the two: answered bookings only."""
    answered = bookings[bookings.status.isin(["RESERVED", "FAILED"])]
    view = pd.DataFrame(
        {
            "booking_id": answered.booking_id,
            "status": answered.status,
            "seats": [tuple(sorted(s)) for s in answered.seats],
            "reason": [
                r if status == "FAILED" else None for r, status in zip(answered.reason, answered.status, strict=True)
            ],
        }
    )
    return view.sort_values("booking_id").reset_index(drop=True)


def view_differences(replayed: pd.DataFrame, stored: pd.DataFrame) -> list[str]:
    """What differs between two views (booking missing on one side, or another status, seats or reason)."""
    left, right = replayed.set_index("booking_id"), stored.set_index("booking_id")
    problems = [f"{b}: only in the replay" for b in left.index.difference(right.index)]
    problems += [f"{b}: only in the store" for b in right.index.difference(left.index)]
    for booking_id in left.index.intersection(right.index):
        a, b = left.loc[booking_id], right.loc[booking_id]
        for column in ("status", "seats", "reason"):
            if not _same(a[column], b[column]):
                problems.append(f"{booking_id}: {column} {a[column]!r} in the replay, {b[column]!r} in the store")
    return problems


def _same(a: object, b: object) -> bool:
    """Equal, or both missing (None, or NaN from a frame)."""
    return bool(a == b) or (_missing(a) and _missing(b))


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)
