"""Input errors at the edges of the public API: each names the argument and what is allowed, and changes nothing.
(Seating, partitioning, settings, book() and the CLI have tables of their own in their test modules.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

import labkit
from labkit import Lab
from labkit.experiments.load import BookingStream, parse_quantity_range, send_burst
from tests.helpers import SMALL_VENUE


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "1 <= low <= high <= 4"),
        ("3-1", "1 <= low <= high <= 4"),
        ("1-9", "1 <= low <= high <= 4"),
        ("", "quantity must look like 2 or 1-4"),
        ("1-", "quantity must look like"),
        ("-2", "quantity must look like"),
    ],
)
def test_quantity_ranges(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_quantity_range(text)


CALLS: list[tuple[str, Callable[[Lab, int], Any], type[Exception], str]] = [
    (
        "start_consumers negative",
        lambda lab, e: lab.start_consumers(ticketing=-1, event_id=e),
        ValueError,
        "ticketing must be a number of consumers from 0 to 32, got -1",
    ),
    (
        "start_consumers not a number",
        lambda lab, e: lab.start_consumers(seat_reservation="4", event_id=e),  # type: ignore[arg-type]
        ValueError,
        "seat_reservation must be a number of consumers from 0 to 32, got '4'",
    ),
    (
        "remove_consumer unknown service",
        lambda lab, e: lab.remove_consumer("cashier"),
        ValueError,
        "service must be one of ('ticketing', 'seat-reservation'), got 'cashier'",
    ),
    (
        "remove_consumer none running",
        lambda lab, e: lab.remove_consumer("ticketing"),
        ValueError,
        "no ticketing consumer is running",
    ),
    ("event id zero", lambda lab, e: lab.bookings(event_id=0), ValueError, "event_id must be a positive integer"),
    ("seat_map section", lambda lab, e: lab.seat_map(e, section="Z"), ValueError, "section must be one of A-B"),
    (
        "seat_map subsection",
        lambda lab, e: lab.seat_map(e, subsection=3),
        ValueError,
        "subsection must be an integer from 1 to 2, got 3",
    ),
    (
        "event never set up",
        lambda lab, e: lab.book(event_id=e + 1, quantity=1),
        ValueError,
        "is not set up: call lab.setup_event",
    ),
    ("send_burst count", lambda lab, e: send_burst(lab, e, 0), ValueError, "count must be a positive integer, got 0"),
    (
        "send_burst bool",
        lambda lab, e: send_burst(lab, e, True),
        ValueError,
        "count must be a positive integer, got True",
    ),
    (
        "send_burst subsection",
        lambda lab, e: send_burst(lab, e, 1, section="A", subsection=9),
        ValueError,
        "no subsection A-9 in the venue",
    ),
    ("stream count", lambda lab, e: BookingStream(lab, e, count=-5), ValueError, "count must be a positive integer"),
    (
        "stream rate",
        lambda lab, e: BookingStream(lab, e, count=5, rate=0),
        ValueError,
        "rate must be a positive number of bookings per second, got 0",
    ),
    (
        "dashboard of an event never set up",
        lambda lab, e: labkit.dashboard(lab, event_id=e + 1),
        ValueError,
        "is not set up: call lab.setup_event",
    ),
    (
        "dashboard refresh",
        lambda lab, e: labkit.dashboard(lab, event_id=e, refresh_interval=0),
        ValueError,
        "refresh_interval must be 0.05 to 5 seconds, got 0",
    ),
]


@pytest.mark.integration
@pytest.mark.parametrize(("name", "call", "error", "message"), CALLS, ids=[c[0] for c in CALLS])
def test_bad_arguments_to_the_public_api_name_the_problem(
    lab: Lab, event_id: int, name: str, call: Callable[[Lab, int], Any], error: type[Exception], message: str
) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    with pytest.raises(error, match=re.escape(message)):
        call(lab, event_id)
    assert lab.store.stats(event_id).get("sent", 0) == 0  # nothing was sent
    assert lab.consumers().empty


@pytest.mark.integration
def test_a_dashboard_burst_outside_its_range_is_refused(lab: Lab, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    board = labkit.dashboard(lab, event_id=event_id)
    try:
        for count in (0, 20_001, "10"):
            with pytest.raises(ValueError, match="count must be an integer from 1 to 20000"):
                board.burst(count)  # type: ignore[arg-type]
    finally:
        board.close()
    assert not board.running
    assert lab.store.stats(event_id).get("sent", 0) == 0
