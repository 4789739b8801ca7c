"""The ticketing service's bookings in Redis: PENDING when sent, RESERVED or FAILED exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from labkit.domain.booking import FAILED, PENDING, RESERVED
from labkit.domain.messages import ReserveSeats, SeatReservationFailed, SeatReserved
from labkit.store import keyspace
from labkit.store.client import text
from labkit.store.scripts import LuaScript

OUTCOME_FIELDS = ("status", "seats", "reason", "latency_ms")


@dataclass(frozen=True)
class BookingRecord:
    """One booking as the store keeps it (a Redis hash of strings), parsed in one place for every reader."""

    booking_id: str
    section: str
    subsection: int
    partition: int
    status: str
    seats: tuple[str, ...]  # the reserved seat ids; empty until RESERVED
    reason: str | None  # why it FAILED
    latency_ms: float | None  # from request to recorded outcome; None while PENDING
    total_price: int
    quantity: int
    requested_at: float  # ms since the epoch

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> BookingRecord:
        return cls(
            booking_id=fields["booking_id"],
            section=fields["section"],
            subsection=int(fields["subsection"]),
            partition=int(fields["partition"]),
            status=fields["status"],
            seats=tuple(s for s in fields.get("seats", "").split(",") if s),
            reason=fields.get("reason") or None,
            latency_ms=float(fields["latency_ms"]) if fields.get("latency_ms") else None,
            total_price=int(fields.get("total_price") or 0),
            quantity=int(fields["quantity"]),
            requested_at=float(fields["requested_at"]),
        )


class BookingStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._record = LuaScript("record_outcome")

    def add_pending(self, requests: list[tuple[ReserveSeats, int]]) -> None:
        """Record bookings (request, partition) before their requests are sent, so a fast reply always finds them.

        One round trip and one transaction for all of them: either every booking is recorded or none is.
        """
        pipe = self.client.pipeline(transaction=True)
        for request, partition in requests:
            pipe.hset(
                keyspace.booking(request.event_id, request.booking_id),
                mapping={
                    "booking_id": request.booking_id,
                    "event_id": request.event_id,
                    "buyer_id": request.buyer_id,
                    "section": request.section,
                    "subsection": request.subsection,
                    "partition": partition,
                    "mode": request.mode,
                    "quantity": request.quantity,
                    "requested_seats": ",".join(request.seat_ids),
                    "status": PENDING,
                    "requested_at": request.requested_at,
                },
            )
        for event_id, indexes in _by_event([request.event_id for request, _ in requests]).items():
            booking_ids = [requests[i][0].booking_id for i in indexes]
            pipe.rpush(keyspace.booking_ids(event_id), *booking_ids)
            pipe.hincrby(keyspace.ticketing_stats(event_id), "sent", len(booking_ids))
        pipe.execute()

    def record_outcomes(self, replies: list[SeatReserved | SeatReservationFailed], completed_at: float) -> list[bool]:
        """Move each booking from PENDING to its outcome; False where it was already terminal (a redelivery).

        One script call per event in the batch (in practice one per batch): the script loops over the replies.
        """
        by_event = _by_event([reply.event_id for reply in replies])
        calls = []
        for event_id, indexes in by_event.items():
            booking_keys: list[str] = []
            args: list[str | float] = [completed_at]
            for index in indexes:
                reply = replies[index]
                booking_keys.append(keyspace.booking(event_id, reply.booking_id))
                if isinstance(reply, SeatReserved):
                    args += [RESERVED, ",".join(reply.seats), reply.total_price, ""]
                else:
                    args += [FAILED, "", 0, reply.reason]
            calls.append(([keyspace.ticketing_stats(event_id), *booking_keys], args))
        recorded = [False] * len(replies)
        for indexes, results in zip(by_event.values(), self._record.run_many(self.client, calls), strict=True):
            for index, result in zip(indexes, results, strict=True):
                recorded[index] = bool(result)
        return recorded

    def get(self, event_id: int, booking_id: str) -> dict[str, str]:
        return _decode(self.client.hgetall(keyspace.booking(event_id, booking_id)))

    def record(self, event_id: int, booking_id: str) -> BookingRecord | None:
        """The booking, or None once its event was torn down."""
        fields = self.get(event_id, booking_id)
        return BookingRecord.parse(fields) if fields else None

    def statuses(self, event_id: int, booking_ids: list[str]) -> list[str | None]:
        return [o["status"] for o in self.outcomes(event_id, booking_ids)]

    def outcomes(self, event_id: int, booking_ids: list[str]) -> list[dict[str, str | None]]:
        """status, seats, reason, latency_ms of each booking (None for unknown fields), one pipelined read."""
        pipe = self.client.pipeline(transaction=False)
        for booking_id in booking_ids:
            pipe.hmget(keyspace.booking(event_id, booking_id), OUTCOME_FIELDS)
        return [
            {name: (v.decode() if v else None) for name, v in zip(OUTCOME_FIELDS, values, strict=True)}
            for values in pipe.execute()
        ]

    def completion_times(self, event_id: int, booking_ids: list[str]) -> list[float | None]:
        """When each booking's outcome was recorded (ms since the epoch), None while it is PENDING."""
        pipe = self.client.pipeline(transaction=False)
        for booking_id in booking_ids:
            pipe.hget(keyspace.booking(event_id, booking_id), "completed_at")
        return [float(v) if v else None for v in pipe.execute()]

    def all(self, event_id: int) -> list[BookingRecord]:
        """Every booking of the event, in the order they were made (one pipelined read)."""
        ids = self.client.lrange(keyspace.booking_ids(event_id), 0, -1)
        pipe = self.client.pipeline(transaction=False)
        for booking_id in ids:
            pipe.hgetall(keyspace.booking(event_id, text(booking_id)))
        return [BookingRecord.parse(_decode(h)) for h in pipe.execute() if h]

    def stats(self, event_id: int) -> dict[str, int]:
        return {k: int(v) for k, v in _decode(self.client.hgetall(keyspace.ticketing_stats(event_id))).items()}


def _by_event(event_ids: list[int]) -> dict[int, list[int]]:
    """Indexes grouped by event id, in order: one Redis call per event, not per item."""
    groups: dict[int, list[int]] = {}
    for index, event_id in enumerate(event_ids):
        groups.setdefault(event_id, []).append(index)
    return groups


def _decode(mapping: dict[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in mapping.items()}
