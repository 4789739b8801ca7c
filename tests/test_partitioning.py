import pytest

from labkit import SeatingConfig, SectionBasedPartitionStrategy

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("section", "subsection", "partition"), [("A", 1, 0), ("A", 2, 1), ("A", 10, 9), ("B", 1, 10), ("J", 10, 99)]
)
def test_the_spec_table(section: str, subsection: int, partition: int) -> None:
    strategy = SectionBasedPartitionStrategy()
    assert strategy.get_partition_for_subsection(section=section, subsection=subsection, event_id=1) == partition


def test_default_venue_maps_100_subsections_onto_100_distinct_partitions() -> None:
    mapping = SectionBasedPartitionStrategy().partition_map()
    assert len(mapping) == 100
    assert sorted(mapping.values()) == list(range(100))


@pytest.mark.parametrize("section", ["K", "", None, "a", "AB", 1])
def test_a_section_outside_the_venue_names_the_valid_range(section: object) -> None:
    with pytest.raises(ValueError, match="section must be one of A-J"):
        SectionBasedPartitionStrategy().get_partition_for_subsection(section, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("subsection", [0, 11, -1, None, "1", True, 1.0])
def test_a_subsection_outside_the_venue_names_the_valid_range(subsection: object) -> None:
    with pytest.raises(ValueError, match="subsection must be an integer from 1 to 10"):
        SectionBasedPartitionStrategy().get_partition_for_subsection("A", subsection)  # type: ignore[arg-type]


def test_fewer_partitions_than_subsections_wrap_the_global_index() -> None:
    strategy = SectionBasedPartitionStrategy(partitions=10)
    assert strategy.get_partition_for_subsection("A", 1) == 0
    assert strategy.get_partition_for_subsection("B", 1) == 0  # index 10 % 10: A-1 and B-1 share partition 0
    assert strategy.get_partition_for_subsection("J", 10) == 9
    shared = [sub for sub, p in strategy.partition_map().items() if p == 3]
    assert shared == [f"{s}-4" for s in "ABCDEFGHIJ"]


def test_the_strategy_follows_the_seating_configuration() -> None:
    small = SeatingConfig(sections="AB", subsections=2, rows=2, seats_per_row=5)
    strategy = SectionBasedPartitionStrategy(small)
    assert strategy.partition_map() == {"A-1": 0, "A-2": 1, "B-1": 2, "B-2": 3}
    with pytest.raises(ValueError, match="from 1 to 2"):
        strategy.get_partition_for_subsection("A", 3)
    with pytest.raises(ValueError, match="A-B"):
        strategy.get_partition_for_subsection("C", 1)


@pytest.mark.parametrize("partitions", [0, -3, True, 2.5])
def test_a_bad_partition_count_is_refused(partitions: object) -> None:
    with pytest.raises(ValueError, match="partitions must be a positive integer"):
        SectionBasedPartitionStrategy(partitions=partitions)  # type: ignore[arg-type]
