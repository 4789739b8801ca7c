"""The venue: sections, subsections, rows and seats, their ids (`A-1-3-5`) and prices."""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from labkit.checks import is_int
from labkit.errors import ConfigError


class SeatRef(NamedTuple):
    """One seat: section letter, subsection (1-based), row (1-based), seat in row (1-based)."""

    section: str
    subsection: int
    row: int
    seat: int

    @property
    def subsection_id(self) -> str:
        return f"{self.section}-{self.subsection}"

    def __str__(self) -> str:
        return f"{self.section}-{self.subsection}-{self.row}-{self.seat}"


def _positive_int(name: str, value: object) -> int:
    if not is_int(value) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class SeatingConfig:
    """Sections (single letters) × subsections per section × rows × seats per row, and a price per section.

    The default venue is the spec's: sections A–J with 10 subsections each (100 subsections), 25 rows of 20
    seats (500 seats a subsection, 50,000 in all), prices falling from A (200) to J (20).
    """

    sections: str = "ABCDEFGHIJ"
    subsections: int = 10
    rows: int = 25
    seats_per_row: int = 20
    prices: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.sections, str) or not self.sections:
            raise ConfigError(f"sections must be a non-empty string of letters like 'ABC', got {self.sections!r}")
        if any(c not in string.ascii_uppercase for c in self.sections) or len(set(self.sections)) != len(self.sections):
            raise ConfigError(f"sections must be distinct capital letters A-Z, got {self.sections!r}")
        for name in ("subsections", "rows", "seats_per_row"):
            _positive_int(name, getattr(self, name))
        if self.seats_per_row > 255:
            raise ConfigError(f"seats_per_row must be at most 255, got {self.seats_per_row}")
        prices = {s: max(10, 200 - 20 * i) for i, s in enumerate(self.sections)}
        for section, price in dict(self.prices).items():
            self.section_index(section)
            prices[section] = _positive_int(f"prices[{section!r}]", price)
        object.__setattr__(self, "prices", prices)

    @classmethod
    def default(cls) -> SeatingConfig:
        return cls()

    @property
    def subsection_count(self) -> int:
        """How many subsections the venue has: one partition each by default."""
        return len(self.sections) * self.subsections

    @property
    def seats_per_subsection(self) -> int:
        return self.rows * self.seats_per_row

    @property
    def total_seats(self) -> int:
        return self.subsection_count * self.seats_per_subsection

    def section_index(self, section: object) -> int:
        """0 for the first section; ValueError naming the valid sections otherwise."""
        if not isinstance(section, str) or len(section) != 1 or section not in self.sections:
            raise ConfigError(f"section must be one of {self._section_range()}, got {section!r}")
        return self.sections.index(section)

    def check_subsection(self, subsection: object) -> int:
        """The subsection number if it is 1..subsections; ValueError naming the range otherwise."""
        if not is_int(subsection) or not 1 <= subsection <= self.subsections:
            raise ConfigError(f"subsection must be an integer from 1 to {self.subsections}, got {subsection!r}")
        return subsection

    def subsection_index(self, section: object, subsection: object) -> int:
        """Global 0-based index: section_index × subsections + (subsection − 1), the spec's formula."""
        return self.section_index(section) * self.subsections + (self.check_subsection(subsection) - 1)

    def subsection_ids(self) -> Iterator[tuple[str, int]]:
        """Every (section, subsection) in index order: A-1, A-2, …, J-10."""
        for section in self.sections:
            for subsection in range(1, self.subsections + 1):
                yield section, subsection

    def parse_seat_id(self, seat_id: object) -> SeatRef:
        """`A-1-3-5` → SeatRef; ValueError saying which part is wrong and what is allowed."""
        parts = seat_id.split("-") if isinstance(seat_id, str) else []
        if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
            raise ConfigError(f"seat id must look like 'A-1-3-5' (section-subsection-row-seat), got {seat_id!r}")
        section, subsection, row, seat = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
        self.section_index(section)
        self.check_subsection(subsection)
        if not 1 <= row <= self.rows:
            raise ConfigError(f"row in seat id {seat_id!r} must be from 1 to {self.rows}")
        if not 1 <= seat <= self.seats_per_row:
            raise ConfigError(f"seat in seat id {seat_id!r} must be from 1 to {self.seats_per_row}")
        return SeatRef(section, subsection, row, seat)

    def seat_at(self, section: str, subsection: int, position: int) -> SeatRef:
        """The seat at 1-based `position` in its subsection, counted row by row (how the store keeps seats)."""
        row, seat = divmod(position - 1, self.seats_per_row)
        return SeatRef(section, subsection, row + 1, seat + 1)

    def manual_positions(self, section: str, subsection: int, seat_ids: Sequence[str]) -> list[int]:
        """The rule for manually chosen seats, checked where a booking is made and again where seats are taken:
        each a seat id of this venue in `section-subsection`, none twice. Their 1-based positions in the
        subsection; ConfigError naming the first seat that breaks the rule."""
        positions = []
        for seat_id in seat_ids:
            ref = self.parse_seat_id(seat_id)
            if (ref.section, ref.subsection) != (section, subsection):
                raise ConfigError(f"seat {seat_id} is not in subsection {section}-{subsection}")
            positions.append(self.position_of(ref))
        if len(set(positions)) != len(positions):
            raise ConfigError(f"seats must be distinct, got {list(seat_ids)}")
        return positions

    def position_of(self, seat: SeatRef) -> int:
        """The 1-based position of `seat` in its subsection, counted row by row (inverse of `seat_at`)."""
        return (seat.row - 1) * self.seats_per_row + seat.seat

    def _section_range(self) -> str:
        return f"{self.sections[0]}-{self.sections[-1]}" if len(self.sections) > 1 else repr(self.sections)
