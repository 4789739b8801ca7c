"""Subsection → partition: one subsection per partition, so one consumer owns all changes to its seats."""

from __future__ import annotations

from labkit.checks import is_int, parse_event_id
from labkit.domain.seating import SeatingConfig
from labkit.errors import ConfigError


class SectionBasedPartitionStrategy:
    """The spec's subsection-based partitioning: `section_index * subsections + (subsection - 1)`.

    With the default venue that is partitions 0 (A-1) to 99 (J-10). When the topic has fewer partitions than the
    venue has subsections, the global index wraps (`index % partitions`): subsections then share partitions —
    a documented choice the lab shows, never an error. Invalid sections or subsections always raise ValueError.
    """

    def __init__(self, seating: SeatingConfig | None = None, partitions: int | None = None) -> None:
        self.seating = seating or SeatingConfig.default()
        if partitions is not None and (not is_int(partitions) or partitions < 1):
            raise ConfigError(f"partitions must be a positive integer or None, got {partitions!r}")
        self.partitions = partitions or self.seating.subsection_count

    def get_partition_for_subsection(self, section: str, subsection: int, event_id: int = 1) -> int:
        """The partition for one subsection. Every event uses the same map; event_id is validated only."""
        parse_event_id(event_id)
        return self.seating.subsection_index(section, subsection) % self.partitions

    def partition_map(self) -> dict[str, int]:
        """`{'A-1': 0, 'A-2': 1, …}` for the whole venue."""
        return {
            f"{section}-{subsection}": self.get_partition_for_subsection(section, subsection)
            for section, subsection in self.seating.subsection_ids()
        }
