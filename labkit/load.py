"""Bursts of bookings: what `labkit book`, the dashboard's burst button and the benchmark send."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from labkit.lab import Lab
from labkit.services.ticketing import Booking
from labkit.store.bookings import TERMINAL


def parse_quantity_range(text: str) -> tuple[int, int]:
    """'2' → (2, 2); '1-4' → (1, 4); ValueError naming the allowed form otherwise."""
    low, _, high = text.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise ValueError(f"quantity must look like 2 or 1-4, got {text!r}")
    lo, hi = int(low), int(high or low)
    if not 1 <= lo <= hi:
        raise ValueError(f"quantity range must satisfy 1 <= low <= high, got {text!r}")
    return lo, hi


def send_burst(
    lab: Lab,
    event_id: int,
    count: int,
    quantity: tuple[int, int] = (1, 4),
    section: str | None = None,
    subsection: int | None = None,
    seed: int | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> list[Booking]:
    """Send `count` best-available bookings, each to a random subsection unless one is given."""
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    seating = lab.inventory.seating(event_id)
    if seating is None:
        raise ValueError(f"event {event_id} is not set up")
    rng = random.Random(seed)
    subs = [(s, n) for s, n in seating.subsection_ids() if section in (None, s) and subsection in (None, n)]
    if not subs:
        raise ValueError(f"no subsection {section}-{subsection} in the venue ({seating.sections}, 1-{seating.subsections})")
    sent = []
    for i in range(count):
        s, n = rng.choice(subs)
        sent.append(lab.book(event_id=event_id, section=s, subsection=n, quantity=rng.randint(*quantity)))
        if on_sent is not None and (i + 1) % 100 == 0:
            on_sent(100)
    if on_sent is not None and count % 100:
        on_sent(count % 100)
    return sent


def wait_all(
    lab: Lab, event_id: int, booking_ids: list[str], timeout: float, on_done: Callable[[int], None] | None = None
) -> int:
    """Wait until every booking has an outcome (bulk reads from Redis); returns how many are still pending."""
    pending = list(booking_ids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        statuses = lab.store.statuses(event_id, pending)
        still = [bid for bid, status in zip(pending, statuses, strict=True) if status not in TERMINAL]
        if on_done is not None and len(still) < len(pending):
            on_done(len(pending) - len(still))
        pending = still
        if pending:
            time.sleep(0.05)
    return len(pending)
