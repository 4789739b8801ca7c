import re

import pytest

from labkit.widgets import seat_view as view

pytestmark = pytest.mark.unit


def test_a_taken_seat_is_sold_only_once_its_booking_is_confirmed() -> None:
    assert view.seat_state(True, None, set()) == "available"
    assert view.seat_state(False, "b-1", set()) == "reserved"
    assert view.seat_state(False, "b-1", {"b-1"}) == "sold"


def test_the_seat_map_has_one_square_per_seat_in_rows_of_the_venue_width() -> None:
    page = view.seat_map_html("A-1", 3, [("A-1-1-1", "available"), ("A-1-1-2", "sold"), ("A-1-1-3", "reserved")])
    assert re.findall(r"labkit-seat-(\w+)", page) == ["available", "sold", "reserved"]
    assert "repeat(3,11px)" in page and "<b>A-1</b>" in page and 'title="A-1-1-2 sold"' in page


def test_rates_use_the_window_and_latency_percentiles() -> None:
    assert view.outcomes_per_second([(10.0, 100), (12.0, 300)]) == 100.0
    assert view.outcomes_per_second([(10.0, 100)]) == 0.0  # one sample: no rate yet
    page = view.rates_html(100.0, [30.0, 10.0, 20.0], waiting=2)
    assert page == (
        '<div class="labkit-rate">event: 100 outcomes/s · this dashboard\'s bookings: latency of its last 3: '
        "p50 20 ms, p99 30 ms, 2 waiting</div>"
    )
    assert "no outcome yet" in view.rates_html(0.0, [], waiting=0)


def test_counters_list_failures_by_reason_and_escape_names() -> None:
    page = view.counters_html(
        {"sent": 5, "RESERVED": 3, "FAILED": 2, "failed:SOLD_OUT": 2}, {"available": 7, "reserved": 3}
    )
    assert re.findall(r'labkit-counter-([\w-]+)">', page) == [
        "sent",
        "reserved",
        "failed",
        "SOLD_OUT",
        "seats-available-here",
        "seats-reserved-here",
    ]
    assert "<td>failed: SOLD_OUT</td><td style='text-align:right'>2</td>" in page


def test_a_clicked_booking_is_narrated_with_its_seats_or_reason() -> None:
    reserved = {"status": "RESERVED", "seats": "A-1-1-1", "reason": None, "latency_ms": "12.4"}
    assert view.outcome_line("0123456789", reserved) == "01234567 RESERVED A-1-1-1 in 12 ms"
    failed = {"status": "FAILED", "seats": None, "reason": "SOLD_OUT", "latency_ms": None}
    assert view.outcome_line("0123456789", failed) == "01234567 FAILED SOLD_OUT in ?"
