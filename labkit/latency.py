"""Latency of the booking path: one booking at a time, and open-loop streams at a fixed offered rate.

Open loop: booking i is *scheduled* at start + i / rate, whatever became of the ones before it. The sender sends
whatever is due (many at once, in one `book_many`, when it fell behind) and latency counts from the scheduled
time to the outcome recorded in Redis. So a sender that falls behind is counted, not hidden: a closed loop
(send, wait, send) would slow down with the system and report the latency of a lighter load.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from labkit.checks import is_number
from labkit.lab import Lab
from labkit.load import wait_all

SEND_CHUNK = 100  # at most this many due bookings per book_many() call


@dataclass(frozen=True)
class LatencySummary:
    """Figures of one run. `offered_per_s` is None for one-at-a-time bookings; latencies in ms."""

    offered_per_s: float | None
    bookings: int
    completed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    achieved_per_s: float  # outcomes per second, first scheduled send → last outcome

    def row(self) -> dict[str, float | int | None]:
        return {
            "offered_per_s": self.offered_per_s,
            "bookings": self.bookings,
            "completed": self.completed,
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "max_ms": round(self.max_ms, 1),
            "achieved_per_s": round(self.achieved_per_s, 1),
        }


def summarise(offered: float | None, starts_ms: Sequence[float], ends_ms: Sequence[float | None]) -> LatencySummary:
    """Percentiles (nearest rank) of end - start over the completed bookings."""
    done = sorted(end - start for start, end in zip(starts_ms, ends_ms, strict=True) if end is not None)
    if not done:
        return LatencySummary(offered, len(starts_ms), 0, float("nan"), float("nan"), float("nan"), 0.0)

    def rank(q: float) -> float:
        return done[min(len(done) - 1, max(0, round(q * len(done)) - 1))]

    span_ms = max(e for e in ends_ms if e is not None) - min(starts_ms)
    return LatencySummary(
        offered, len(starts_ms), len(done), rank(0.50), rank(0.99), done[-1], len(done) / max(span_ms / 1000, 1e-3)
    )


def one_at_a_time(lab: Lab, event_id: int, count: int = 200, seed: int | None = None) -> LatencySummary:
    """`count` bookings, each sent only after the previous one's outcome is known: book() → wait() as a user
    clicking Book sees it, measured around the call."""
    subsections = _subsections(lab, event_id)
    rng = random.Random(seed)
    starts, ends = [], []
    for _ in range(count):
        section, subsection = rng.choice(subsections)
        start = time.time() * 1000
        lab.book(event_id, section, subsection, quantity=1).wait(timeout=30)
        starts.append(start)
        ends.append(time.time() * 1000)
    return summarise(None, starts, ends)


def open_loop(
    lab: Lab,
    event_id: int,
    rate: float,
    seconds: float,
    quantity: tuple[int, int] = (1, 2),
    seed: int | None = None,
    timeout: float = 60.0,
) -> LatencySummary:
    """Offer `rate` bookings/s for `seconds` to random subsections; latency from each booking's scheduled time."""
    if not is_number(rate) or rate <= 0:
        raise ValueError(f"rate must be a positive number of bookings per second, got {rate!r}")
    if not is_number(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    subsections = _subsections(lab, event_id)
    rng = random.Random(seed)
    count = max(1, round(rate * seconds))
    booking_ids: list[str] = []
    start_wall, start = time.time(), time.monotonic()
    while len(booking_ids) < count:
        sent = len(booking_ids)
        due = min(count, int((time.monotonic() - start) * rate) + 1)
        if due <= sent:  # pacing until the next booking's scheduled time: the load's shape, not synchronisation
            time.sleep(max(0.0, start + sent / rate - time.monotonic()))
            continue
        orders = []
        for _ in range(min(due - sent, SEND_CHUNK)):
            section, subsection = rng.choice(subsections)
            orders.append({"section": section, "subsection": subsection, "quantity": rng.randint(*quantity)})
        booking_ids += [b.booking_id for b in lab.book_many(orders, event_id=event_id)]
    wait_all(lab, event_id, booking_ids, timeout)
    scheduled = [(start_wall + i / rate) * 1000 for i in range(count)]
    return summarise(rate, scheduled, lab.store.completion_times(event_id, booking_ids))


def sweep(
    lab: Lab,
    event_id: int,
    rates: Sequence[float],
    seconds: float,
    stop_above_p99_ms: float = 2000.0,
    seed: int | None = None,
) -> list[LatencySummary]:
    """Open-loop runs at rising rates, stopping after the first whose p99 passes `stop_above_p99_ms`."""
    results = []
    for rate in rates:
        results.append(open_loop(lab, event_id, rate, seconds, seed=seed))
        if not results[-1].p99_ms <= stop_above_p99_ms:  # NaN (nothing completed) stops too
            break
    return results


def sustainable_rate(results: Sequence[LatencySummary], p99_limit_ms: float = 250.0) -> float | None:
    """The highest offered rate whose p99 stayed within the limit (None if none did)."""
    ok = [r.offered_per_s for r in results if r.offered_per_s is not None and r.p99_ms <= p99_limit_ms]
    return max(ok) if ok else None


def _subsections(lab: Lab, event_id: int) -> list[tuple[str, int]]:
    return list(lab.inventory.require_seating(event_id).subsection_ids())
