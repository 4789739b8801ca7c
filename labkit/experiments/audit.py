"""The system's invariants, checked against what Redis holds: what a fault test (or a person after an incident)
asks first. Nothing lost, nothing sold twice, every counter equal to the seats it counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from labkit.checks import parse_event_id
from labkit.domain.booking import FAILED, PENDING, RESERVED
from labkit.lab import Lab


@dataclass(frozen=True)
class AuditReport:
    """Every list names what breaks an invariant; an empty report (`ok`) means none does."""

    event_id: int
    bookings: int
    reserved: int
    failed: int
    pending: list[str] = field(default_factory=list)
    seats_sold_twice: list[str] = field(default_factory=list)
    sold_seats_not_held: list[str] = field(default_factory=list)
    held_seats_of_no_sale: list[str] = field(default_factory=list)
    counter_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.pending
            or self.seats_sold_twice
            or self.sold_seats_not_held
            or self.held_seats_of_no_sale
            or self.counter_mismatches
        )

    def problems(self) -> list[str]:
        found = []
        for name in (
            "pending",
            "seats_sold_twice",
            "sold_seats_not_held",
            "held_seats_of_no_sale",
            "counter_mismatches",
        ):
            values = getattr(self, name)
            if values:
                found.append(f"{name} ({len(values)}): {values[:5]}")
        return found


def audit(lab: Lab, event_id: int) -> AuditReport:
    """Check event `event_id` once every booking should have its outcome (consumers caught up).

    - every booking is RESERVED or FAILED (none PENDING);
    - no seat is in two RESERVED bookings;
    - the seat inventory holds exactly the seats of the RESERVED bookings, each for its own booking;
    - the seat counters (per subsection and per event) equal the seat states, and the ticketing counters
      (sent, RESERVED, FAILED, failed by reason) equal the bookings' statuses.
    """
    event_id = parse_event_id(event_id)
    bookings = lab.bookings(event_id)
    seats = lab.seat_map(event_id)
    statuses = Counter(bookings.status)
    sold = Counter(seat for row in bookings[bookings.status == RESERVED].seats for seat in row)
    owner_of_sale = {
        seat: b for b, row in zip(bookings.booking_id, bookings.seats, strict=True) for seat in row if seat in sold
    }
    held = seats[seats.state == "reserved"]
    held_by = dict(zip(held.seat_id, held.booking_id, strict=True))
    return AuditReport(
        event_id=event_id,
        bookings=len(bookings),
        reserved=statuses[RESERVED],
        failed=statuses[FAILED],
        pending=list(bookings[bookings.status == PENDING].booking_id),
        seats_sold_twice=sorted(s for s, n in sold.items() if n > 1),
        sold_seats_not_held=sorted(s for s in sold if held_by.get(s) != owner_of_sale[s]),
        held_seats_of_no_sale=sorted(s for s in held_by if s not in sold),
        counter_mismatches=_counter_mismatches(lab, event_id, seats, bookings),
    )


def _counter_mismatches(lab: Lab, event_id: int, seats: pd.DataFrame, bookings: pd.DataFrame) -> list[str]:
    found = []
    expected = {
        "reserved": int((seats.state == "reserved").sum()),
        "available": int((seats.state == "available").sum()),
    }
    actual = lab.runtime.inventory.counters(event_id)
    found += [f"event {k}: counter {actual.get(k)} != {v} seats" for k, v in expected.items() if actual.get(k) != v]
    for (section, subsection), group in seats.groupby(["section", "subsection"]):
        counters = lab.runtime.inventory.counters(event_id, f"{section}-{subsection}")
        for state in ("reserved", "available"):
            n = int((group.state == state).sum())
            if counters.get(state) != n:
                found.append(f"{section}-{subsection} {state}: counter {counters.get(state)} != {n} seats")
    stats = lab.runtime.store.stats(event_id)
    wanted = {
        "sent": len(bookings),
        RESERVED: int((bookings.status == RESERVED).sum()),
        FAILED: int((bookings.status == FAILED).sum()),
    }
    wanted |= {f"failed:{r}": int(n) for r, n in bookings[bookings.status == FAILED].reason.value_counts().items()}
    found += [
        f"ticketing {k}: counter {stats.get(k, 0)} != {v} bookings" for k, v in wanted.items() if stats.get(k, 0) != v
    ]
    return found
