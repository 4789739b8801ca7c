"""Bursts of bookings: what `labkit book`, the dashboard's burst button and the benchmark send."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import redis

from labkit.checks import is_int, is_number
from labkit.domain.booking import FAILED, RESERVED, TERMINAL
from labkit.errors import ConfigError, LabkitError, WaitTimeout
from labkit.lab import Lab
from labkit.polling import poll
from labkit.services.ticketing import Booking
from labkit.store.inventory import MAX_QUANTITY


def parse_quantity_range(text: str, highest: int = MAX_QUANTITY) -> tuple[int, int]:
    """'2' → (2, 2); '1-4' → (1, 4); ValueError naming the allowed form and range otherwise."""
    low, dash, high = text.partition("-")
    if not low.isdigit() or (dash and not high.isdigit()):
        raise ConfigError(f"quantity must look like 2 or 1-4, got {text!r}")
    lo, hi = int(low), int(high or low)
    if not 1 <= lo <= hi <= highest:
        raise ConfigError(f"quantity must satisfy 1 <= low <= high <= {highest}, got {text!r}")
    return lo, hi


# A burst goes out in chunks, one book_many() each: one Redis transaction records a chunk PENDING, then its
# requests are queued for Kafka. The first chunk is small, so the first requests leave at once; each next chunk
# is as large as everything sent so far, up to LAST_CHUNK. Large chunks cost fewer Redis round trips, and they
# reach the producer together, so each partition's batch (one ProduceRequest: librdkafka sends one partition
# per request) holds more records: a 20,000 burst sent in chunks of 100 made batches of 8.5-9.5 records and cost
# the brokers 8-13 s of CPU; in these chunks, 44-52 records and 5.4-8.7 s (docs/benchmark.md, "A burst's CPU").
FIRST_CHUNK = 100
LAST_CHUNK = 2_000


def burst_chunks(count: int) -> list[int]:
    """The sizes of the book_many() calls that send a burst of `count`: 100, 100, 200, 400, … up to 2,000."""
    chunks: list[int] = []
    sent = 0
    while sent < count:
        chunk = min(count - sent, LAST_CHUNK, max(FIRST_CHUNK, sent))
        chunks.append(chunk)
        sent += chunk
    return chunks


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
    if not is_int(count) or count < 1:
        raise ConfigError(f"count must be a positive integer, got {count!r}")
    seating = lab.runtime.inventory.require_seating(event_id)
    rng = random.Random(seed)
    subs = [(s, n) for s, n in seating.subsection_ids() if section in (None, s) and subsection in (None, n)]
    if not subs:
        venue = f"{seating.sections}, 1-{seating.subsections}"
        raise ConfigError(f"no subsection {section}-{subsection} in the venue ({venue})")
    sent: list[Booking] = []
    for chunk in burst_chunks(count):
        orders = []
        for _ in range(chunk):
            s, n = rng.choice(subs)
            orders.append({"section": s, "subsection": n, "quantity": rng.randint(*quantity)})
        sent += lab.book_many(orders, event_id=event_id)
        if on_sent is not None:
            on_sent(chunk)
    return sent


def wait_all(
    lab: Lab, event_id: int, booking_ids: list[str], timeout: float, on_done: Callable[[int], None] | None = None
) -> int:
    """Wait until every booking has an outcome (bulk reads from Redis); returns how many are still pending."""
    pending = list(booking_ids)

    def all_done() -> bool:
        nonlocal pending
        statuses = lab.runtime.store.statuses(event_id, pending) if pending else []
        still = [bid for bid, status in zip(pending, statuses, strict=True) if status not in TERMINAL]
        if on_done is not None and len(still) < len(pending):
            on_done(len(pending) - len(still))
        pending = still
        return not pending

    poll(all_done, timeout, interval=0.05)
    return len(pending)


def wait_for_outcomes(lab: Lab, event_id: int, expected: int, timeout: float) -> int:
    """Wait until the event has `expected` outcomes recorded; returns how many are still missing.

    Reads the event's two outcome counters, one round trip per poll whatever the count: for an event whose
    bookings are all the caller's (the benchmark's fresh event), where wait_all would re-read every booking.
    """
    missing = [expected]

    def all_done() -> bool:
        stats = lab.runtime.store.stats(event_id)
        missing[0] = max(expected - stats.get(RESERVED, 0) - stats.get(FAILED, 0), 0)
        return missing[0] == 0

    poll(all_done, timeout, interval=0.05)
    return missing[0]


class BookingStream:
    """Bookings sent at a steady rate from a background thread: load that is still flowing when a fault hits.

    A booking that cannot be sent (Redis down, say) is retried after `retry_after` s until `give_up_after` s;
    the errors are counted. `booking_ids` lists the bookings that were accepted, in order.
    """

    def __init__(
        self,
        lab: Lab,
        event_id: int,
        count: int,
        rate: float = 150.0,
        quantity: tuple[int, int] = (1, 4),
        seed: int | None = None,
        retry_after: float = 0.2,
        give_up_after: float = 60.0,
        book: Callable[..., Booking] | None = None,
    ) -> None:
        """`book`: what sends one booking, `lab.book` unless given (a fault check's own ticketing service)."""
        if not is_int(count) or count < 1:
            raise ConfigError(f"count must be a positive integer, got {count!r}")
        if not is_number(rate) or rate <= 0:
            raise ConfigError(f"rate must be a positive number of bookings per second, got {rate!r}")
        seating = lab.runtime.inventory.require_seating(event_id)
        self.lab, self.event_id, self.count, self.rate, self.quantity = lab, event_id, count, rate, quantity
        self.retry_after, self.give_up_after = retry_after, give_up_after
        self._book = book or lab.book
        self._subsections = list(seating.subsection_ids())
        self._rng = random.Random(seed)
        self.booking_ids: list[str] = []
        self.errors: list[str] = []
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"labkit-stream-{event_id}", daemon=True)

    @property
    def sent(self) -> int:
        return len(self.booking_ids)

    @property
    def sending(self) -> bool:
        """Started and not yet through: not all `count` sent, not stopped, not failed."""
        return self._thread.is_alive()

    def start(self) -> BookingStream:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        """Wait until every booking is sent; re-raise what ended the stream early."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise WaitTimeout(f"the stream sent {self.sent} of {self.count} bookings in {timeout} s")
        if self.failure is not None:
            raise self.failure

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        started = time.monotonic()
        try:
            for i in range(self.count):
                wait = started + i / self.rate - time.monotonic()  # pacing: the load's shape, not synchronisation
                if wait > 0 and self._stop.wait(wait):
                    return
                self.booking_ids.append(self._send_one())
        except BaseException as error:  # handed to join()
            self.failure = error

    def _send_one(self) -> str:
        section, subsection = self._rng.choice(self._subsections)
        quantity = self._rng.randint(*self.quantity)
        deadline = time.monotonic() + self.give_up_after
        while True:
            try:
                return self._book(self.event_id, section, subsection, quantity=quantity).booking_id
            except (ConnectionError, redis.RedisError, LabkitError) as error:
                self.errors.append(f"{type(error).__name__}: {error}")
                if time.monotonic() > deadline or self._stop.wait(self.retry_after):
                    raise
