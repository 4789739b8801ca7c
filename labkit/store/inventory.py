"""Seat inventory in Redis: set up a venue, reserve seats in batches (Lua, atomic, idempotent), read the map."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import redis

from labkit.domain.messages import (
    INVALID_REQUEST,
    INVALID_SEAT,
    ReserveSeats,
    SeatReservationFailed,
    SeatReserved,
)
from labkit.domain.seating import SeatingConfig
from labkit.errors import ConfigError, EventNotSetUpError
from labkit.store import keyspace
from labkit.store.client import text
from labkit.store.scripts import LuaScript

MAX_QUANTITY = 4  # per booking, by default: the spec's ticket limit


@dataclass(frozen=True)
class Reservation:
    """What one reserve-seats request came to; `fresh` is False when it was a redelivery of a known booking."""

    request: ReserveSeats
    reply: SeatReserved | SeatReservationFailed
    fresh: bool


class SeatInventory:
    """The seat-reservation service's state. One Lua call per subsection per batch does all the work."""

    def __init__(self, client: redis.Redis, max_quantity: int = MAX_QUANTITY) -> None:
        self.client = client
        self.max_quantity = max_quantity
        self._reserve = LuaScript("reserve")
        self._init = LuaScript("init")
        self._seating: dict[int, SeatingConfig | None] = {}

    # -- venue -------------------------------------------------------------------------------------------------
    def setup(self, event_id: int, seating: SeatingConfig) -> None:
        """Store the venue and create every subsection's seats; idempotent. A different venue is an error."""
        stored = self.seating(event_id)
        if stored is not None and stored != seating:
            raise ConfigError(f"event {event_id} already has another seating ({stored}); use a new event id")
        self.client.set(keyspace.seating(event_id), json.dumps(asdict(seating)), nx=True)
        self._seating[event_id] = seating
        calls = [
            (
                [
                    keyspace.seats(event_id, f"{s}-{n}"),
                    keyspace.subsection_counters(event_id, f"{s}-{n}"),
                    keyspace.event_counters(event_id),
                ],
                [seating.seats_per_subsection],
            )
            for s, n in seating.subsection_ids()
        ]
        self._init.run_many(self.client, calls)

    def seating(self, event_id: int) -> SeatingConfig | None:
        """The event's venue (cached after the first read), or None for an event never set up."""
        if self._seating.get(event_id) is None:
            raw = self.client.get(keyspace.seating(event_id))
            self._seating[event_id] = SeatingConfig(**json.loads(raw)) if raw else None
        return self._seating[event_id]

    def require_seating(self, event_id: int) -> SeatingConfig:
        """The event's venue; EventNotSetUpError for an event never set up (or torn down)."""
        seating = self.seating(event_id)
        if seating is None:
            raise EventNotSetUpError(event_id)
        return seating

    def forget(self, event_id: int) -> None:
        """Drop the cached venue of a deleted event."""
        self._seating.pop(event_id, None)

    # -- reservations ------------------------------------------------------------------------------------------
    def reserve(self, requests: list[ReserveSeats]) -> list[Reservation]:
        """Reserve for every request; the result is in the requests' order. Redis is called once per batch."""
        done: dict[int, Reservation] = {}
        groups: dict[tuple[int, str, int], list[tuple[int, ReserveSeats, list[int]]]] = defaultdict(list)
        for index, request in enumerate(requests):
            seating = self.seating(request.event_id)
            problem = self._check(request, seating)
            if isinstance(problem, SeatReservationFailed):
                done[index] = Reservation(request, problem, fresh=True)
            else:
                groups[(request.event_id, request.section, request.subsection)].append((index, request, problem))
        calls = []
        for (event_id, section, subsection), members in groups.items():
            seating = self.seating(event_id)
            assert seating is not None
            sub = f"{section}-{subsection}"
            args: list[Any] = [seating.seats_per_row, seating.prices[section]]
            for _, request, positions in members:
                args += [request.booking_id, "M" if request.mode == "manual" else "B", request.quantity, *positions]
                args.append("1" if request.allow_split else "0")
            calls.append(
                (
                    [
                        keyspace.seats(event_id, sub),
                        keyspace.outcomes(event_id, sub),
                        keyspace.subsection_counters(event_id, sub),
                        keyspace.event_counters(event_id),
                    ],
                    args,
                )
            )
        for (group, members), result in zip(groups.items(), self._reserve.run_many(self.client, calls), strict=True):
            seating = self.seating(group[0])
            assert seating is not None
            available, reserved = int(result[-2]), int(result[-1])
            for k, (index, request, _) in enumerate(members):
                outcome, fresh = text(result[3 * k + 1]), text(result[3 * k + 2]) == "new"
                done[index] = Reservation(request, _reply(request, outcome, seating, available, reserved), fresh)
        return [done[i] for i in range(len(requests))]

    def _check(self, r: ReserveSeats, seating: SeatingConfig | None) -> SeatReservationFailed | list[int]:
        """The request against the venue: seat positions (1-based) to reserve, or the failure to answer."""

        def fail(reason: str, message: str) -> SeatReservationFailed:
            return SeatReservationFailed(r.booking_id, r.event_id, r.section, r.subsection, reason, message)

        if seating is None:
            return fail(INVALID_REQUEST, f"event {r.event_id} is not set up")
        try:
            seating.subsection_index(r.section, r.subsection)
        except ConfigError as exc:
            return fail(INVALID_REQUEST, str(exc))
        if not 1 <= r.quantity <= self.max_quantity:
            return fail(INVALID_REQUEST, f"quantity must be from 1 to {self.max_quantity}, got {r.quantity}")
        if r.mode != "manual":
            return []
        try:
            return seating.manual_positions(r.section, r.subsection, r.seat_ids)
        except ConfigError as exc:
            return fail(INVALID_SEAT, str(exc))

    # -- reading -----------------------------------------------------------------------------------------------
    def seat_states(
        self, event_id: int, section: str | None = None, subsection: int | None = None
    ) -> list[dict[str, Any]]:
        """One row per seat (of the venue, or of one section / subsection): seat_id, section, subsection, row,
        seat, state, booking_id."""
        seating = self.require_seating(event_id)
        if section is not None:
            seating.section_index(section)
        if subsection is not None:
            seating.check_subsection(subsection)
        subs = [(s, n) for s, n in seating.subsection_ids() if section in (None, s) and subsection in (None, n)]
        pipe = self.client.pipeline(transaction=False)
        for s, n in subs:
            pipe.get(keyspace.seats(event_id, f"{s}-{n}"))
            pipe.hgetall(keyspace.outcomes(event_id, f"{s}-{n}"))
        replies = pipe.execute()
        rows = []
        for k, (section, subsection) in enumerate(subs):
            states, outcomes = text(replies[2 * k] or b""), replies[2 * k + 1]
            owner = {}
            for booking_id, outcome in outcomes.items():
                parts = text(outcome).split("|")
                if parts[0] == "R":
                    owner.update({int(p): text(booking_id) for p in parts[1].split(",")})
            for pos, state in enumerate(states, start=1):
                ref = seating.seat_at(section, subsection, pos)
                rows.append(
                    {
                        "seat_id": str(ref),
                        "section": section,
                        "subsection": subsection,
                        "row": ref.row,
                        "seat": ref.seat,
                        "state": "reserved" if state == "1" else "available",
                        "booking_id": owner.get(pos),
                    }
                )
        return rows

    def seats_left(self, event_id: int) -> dict[str, int]:
        """Subsection id → seats available, for the whole venue in one Redis round trip."""
        subsections = [f"{s}-{n}" for s, n in self.require_seating(event_id).subsection_ids()]
        pipe = self.client.pipeline(transaction=False)
        for subsection_id in subsections:
            pipe.hget(keyspace.subsection_counters(event_id, subsection_id), "available")
        return {sid: int(v or 0) for sid, v in zip(subsections, pipe.execute(), strict=True)}

    def counters(self, event_id: int, subsection_id: str | None = None) -> dict[str, int]:
        key = (
            keyspace.event_counters(event_id)
            if subsection_id is None
            else keyspace.subsection_counters(event_id, subsection_id)
        )
        return {text(k): int(v) for k, v in self.client.hgetall(key).items()}


def _reply(
    request: ReserveSeats, outcome: str, seating: SeatingConfig, available: int, reserved: int
) -> SeatReserved | SeatReservationFailed:
    parts = outcome.split("|")
    if parts[0] == "F":
        return SeatReservationFailed(
            request.booking_id,
            request.event_id,
            request.section,
            request.subsection,
            parts[1],
            _explain(parts[1], request),
        )
    seats = [str(seating.seat_at(request.section, request.subsection, int(pos))) for pos in parts[1].split(",")]
    return SeatReserved(
        request.booking_id,
        request.event_id,
        request.section,
        request.subsection,
        tuple(seats),
        int(parts[2]),
        available,
        reserved,
        adjacent=parts[3] == "1",
    )


def _explain(reason: str, r: ReserveSeats) -> str:
    where = f"subsection {r.section}-{r.subsection}"
    return {
        "SEAT_TAKEN": f"one of {list(r.seat_ids)} is already reserved in {where}; nothing was reserved",
        "SOLD_OUT": f"{where} is sold out",
        "NOT_ENOUGH_SEATS": f"fewer than {r.quantity} seats are left in {where}",
        "NOT_ENOUGH_ADJACENT": f"no row of {where} has {r.quantity} adjacent seats left",
    }.get(reason, reason)
