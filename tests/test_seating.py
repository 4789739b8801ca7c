import pytest

from labkit import SeatingConfig, SeatRef

pytestmark = pytest.mark.unit


def test_default_venue_is_the_specs() -> None:
    venue = SeatingConfig.default()
    assert venue.subsection_count == 100
    assert venue.seats_per_subsection == 500
    assert venue.total_seats == 50_000
    prices = [venue.prices[s] for s in venue.sections]
    assert prices == sorted(prices, reverse=True) and prices[0] > prices[-1]


def test_seat_ids_round_trip() -> None:
    venue = SeatingConfig.default()
    ref = venue.parse_seat_id("C-4-25-20")
    assert ref == SeatRef("C", 4, 25, 20)
    assert str(ref) == "C-4-25-20" and ref.subsection_id == "C-4"


def test_store_positions_count_row_by_row_and_round_trip() -> None:
    venue = SeatingConfig.default()  # 20 seats per row
    assert venue.seat_at("A", 1, 1) == SeatRef("A", 1, 1, 1)
    assert venue.seat_at("A", 1, 21) == SeatRef("A", 1, 2, 1)
    assert venue.seat_at("C", 4, 500) == SeatRef("C", 4, 25, 20)
    assert all(venue.position_of(venue.seat_at("B", 2, p)) == p for p in range(1, 501))


@pytest.mark.parametrize(
    ("seat_id", "message"),
    [
        ("A-1-3", "must look like"),
        ("A-1-x-5", "must look like"),
        (None, "must look like"),
        ("K-1-1-1", "section must be one of"),
        ("A-11-1-1", "subsection must be"),
        ("A-1-26-1", "row in seat id"),
        ("A-1-1-21", "seat in seat id"),
        ("A-1-0-1", "row in seat id"),
    ],
)
def test_bad_seat_ids_say_what_is_wrong(seat_id: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SeatingConfig.default().parse_seat_id(seat_id)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sections": ""}, "non-empty"),
        ({"sections": "AA"}, "distinct capital letters"),
        ({"sections": "ab"}, "distinct capital letters"),
        ({"subsections": 0}, "subsections must be a positive integer"),
        ({"rows": -1}, "rows must be a positive integer"),
        ({"seats_per_row": 256}, "at most 255"),
        ({"prices": {"Z": 10}}, "section must be one of"),
        ({"prices": {"A": 0}}, "prices"),
    ],
)
def test_bad_seating_configs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SeatingConfig(**kwargs)


def test_prices_can_be_overridden_per_section() -> None:
    venue = SeatingConfig(sections="AB", subsections=2, rows=2, seats_per_row=5, prices={"B": 55})
    assert venue.prices == {"A": 200, "B": 55}
