import uuid

import pytest

from labkit import KafkaConsumerGroupBuilder, KafkaTopicBuilder, PartitionKeyBuilder
from labkit.errors import ConfigError

pytestmark = pytest.mark.unit

SPEC_TOPICS = {  # the spec's exact names, one per line
    "reserve_seats__ticketing_to_seat_reservation": "event-id-1______reserve-seats______ticketing-service___to___seat-reservation-service",  # noqa: E501
    "seat_reserved__seat_reservation_to_ticketing": "event-id-1______seat-reserved______seat-reservation-service___to___ticketing-service",  # noqa: E501
    "seat_reservation_failed__seat_reservation_to_ticketing": "event-id-1______seat-reservation-failed______seat-reservation-service___to___ticketing-service",  # noqa: E501
}


@pytest.mark.parametrize(("method", "expected"), SPEC_TOPICS.items())
def test_topic_names_match_the_spec_table(method: str, expected: str) -> None:
    assert getattr(KafkaTopicBuilder, method)(1) == expected


def test_topic_names_carry_the_event_id() -> None:
    assert KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(42).startswith("event-id-42______")


def test_all_topics_are_the_spec_topics_plus_a_dead_letter_topic_in_the_same_pattern() -> None:
    topics = KafkaTopicBuilder.get_all_topics(1)
    assert topics[:3] == list(SPEC_TOPICS.values())
    assert topics[3] == "event-id-1______dead-letter______labkit-services___to___operator"
    assert len(set(topics)) == 4


def test_consumer_groups_match_the_spec_table_with_five_underscores() -> None:
    assert KafkaConsumerGroupBuilder.ticketing_service(1) == "event-id-1_____ticketing-service--1"
    assert KafkaConsumerGroupBuilder.seat_reservation_service(1) == "event-id-1_____seat-reservation-service--1"
    assert KafkaConsumerGroupBuilder.seat_reservation_service(7) == "event-id-7_____seat-reservation-service--7"
    assert KafkaConsumerGroupBuilder.get_all_groups(7) == [
        "event-id-7_____ticketing-service--7",
        "event-id-7_____seat-reservation-service--7",
    ]


def test_partition_keys_match_the_spec() -> None:
    booking_id = str(uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"))
    assert PartitionKeyBuilder.section_based(1, "A-1", 0) == "event-1-section-A-1-partition-0"
    assert PartitionKeyBuilder.booking_with_id(1, booking_id) == "event-1-booking-01234567-89ab-cdef-0123-456789abcdef"


def test_a_booking_key_takes_the_uuid_object_a_python_user_has() -> None:
    booking_id = uuid.uuid4()
    assert PartitionKeyBuilder.booking_with_id(1, booking_id) == f"event-1-booking-{booking_id}"
    with pytest.raises(ValueError, match="UUID or a non-empty string, got 42"):
        PartitionKeyBuilder.booking_with_id(1, 42)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, "abc", None, True, 1.5])
def test_a_bad_event_id_is_refused_with_what_is_allowed(bad: object) -> None:
    with pytest.raises(ConfigError, match="positive integer"):
        KafkaTopicBuilder.get_all_topics(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("section_id", "partition"), [("", 0), ("A-1", -1), ("A-1", "0")])
def test_bad_partition_key_parts_are_refused(section_id: str, partition: object) -> None:
    with pytest.raises(ValueError):
        PartitionKeyBuilder.section_based(1, section_id, partition)  # type: ignore[arg-type]
