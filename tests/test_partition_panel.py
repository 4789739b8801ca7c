"""The partition panel's drawing: a pure function of plain data, tested without Kafka, Redis or a browser."""

from __future__ import annotations

import re

import pytest

from labkit.domain.seating import SeatingConfig
from labkit.experiments.partition_panel import (
    UNKNOWN_COLOUR,
    PartitionCell,
    lag_colour,
    lag_legend,
    partition_panel_html,
    short_owner,
)

pytestmark = pytest.mark.unit

VENUE = SeatingConfig(sections="AB", subsections=2, rows=4, seats_per_row=5)


def cells() -> list[PartitionCell]:
    return [
        PartitionCell(0, "A-1", 0, "consumer-host-1-seat-reservation-3", 20),
        PartitionCell(1, "A-2", 7, "consumer-host-1-seat-reservation-3", 18),
        PartitionCell(2, "B-1", 900, "consumer-host-1-seat-reservation-4", 0),
        PartitionCell(3, "B-2", None, None, None),
    ]


def test_one_cell_per_partition_in_section_rows_with_lag_owner_and_seats_left() -> None:
    page = partition_panel_html(VENUE, cells())
    assert re.findall(r"data-partition='(\d+)' data-lag='([^']*)'", page) == [
        ("0", "0"),
        ("1", "7"),
        ("2", "900"),
        ("3", "-"),
    ]
    assert "seat-reservation lag 907" in page
    assert "0 left" in page and "18 left" in page
    assert "partitions per consumer: #3: 2 · #4: 1" in page


def test_lag_colours_rise_with_the_lag() -> None:
    shades = [lag_colour(lag) for lag in (0, 1, 49, 50, 499, 500, 10**6)]
    assert shades[1] == shades[2] and shades[3] == shades[4] and shades[5] == shades[6]
    assert len(set(shades)) == 4 and lag_colour(None) == UNKNOWN_COLOUR
    assert [label for label, _ in lag_legend()] == ["lag 0", "lag 1–49", "lag 50–499", "lag ≥ 500"]
    assert [colour for _, colour in lag_legend()] == [lag_colour(lag) for lag in (0, 1, 50, 500)]


def test_owner_names_are_shortened_to_what_tells_them_apart() -> None:
    assert short_owner("consumer-vm-17503-seat-reservation-3") == "#3"
    assert short_owner("consumer-vm-4242") == "#4242"
    assert short_owner("a-custom-consumer-name") == "onsumer-name"
    assert short_owner(None) == "-"


def test_no_consumer_and_html_in_names_is_escaped() -> None:
    page = partition_panel_html(VENUE, [PartitionCell(0, "A-1", 3, "<b>x</b>", 1)])
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "no consumer" in partition_panel_html(VENUE, [])
