"""Topic, consumer-group and partition-key builders: the spec's exact strings.

Topics read `event-id-{event_id}______{action}______{from}___to___{to}` (six underscores around the action),
consumer groups `event-id-{event_id}_____{service}--{event_id}` (five). The spec is deliberate; so are we.
"""

from __future__ import annotations

import uuid

from labkit.checks import is_int, parse_event_id
from labkit.errors import ConfigError

TICKETING_SERVICE = "ticketing-service"
SEAT_RESERVATION_SERVICE = "seat-reservation-service"


def topic_name(event_id: int, action: str, from_service: str, to_service: str) -> str:
    """The spec's topic pattern for any action (the builders below name the four labkit uses)."""
    event_id = parse_event_id(event_id)
    return f"event-id-{event_id}______{action}______{from_service}___to___{to_service}"


class KafkaTopicBuilder:
    """One static method per topic, named after its action and direction as in the spec."""

    @staticmethod
    def reserve_seats__ticketing_to_seat_reservation(event_id: int) -> str:
        return topic_name(event_id, "reserve-seats", TICKETING_SERVICE, SEAT_RESERVATION_SERVICE)

    @staticmethod
    def seat_reserved__seat_reservation_to_ticketing(event_id: int) -> str:
        return topic_name(event_id, "seat-reserved", SEAT_RESERVATION_SERVICE, TICKETING_SERVICE)

    @staticmethod
    def seat_reservation_failed__seat_reservation_to_ticketing(event_id: int) -> str:
        return topic_name(event_id, "seat-reservation-failed", SEAT_RESERVATION_SERVICE, TICKETING_SERVICE)

    @staticmethod
    def dead_letter__services_to_operator(event_id: int) -> str:
        """Where either service parks a message it cannot decode, with the reason, for a person to inspect."""
        return topic_name(event_id, "dead-letter", "labkit-services", "operator")

    @staticmethod
    def get_all_topics(event_id: int) -> list[str]:
        """Every topic of one event: the three of the spec's message flow, then the dead-letter topic."""
        return [
            KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id),
            KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id),
            KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(event_id),
            KafkaTopicBuilder.dead_letter__services_to_operator(event_id),
        ]


class KafkaConsumerGroupBuilder:
    """Consumer-group ids: one group per service per event, so services scale and fail independently."""

    @staticmethod
    def ticketing_service(event_id: int) -> str:
        return group_name(event_id, TICKETING_SERVICE)

    @staticmethod
    def seat_reservation_service(event_id: int) -> str:
        return group_name(event_id, SEAT_RESERVATION_SERVICE)

    @staticmethod
    def get_all_groups(event_id: int) -> list[str]:
        """Every consumer group of one event, ticketing's first (like `KafkaTopicBuilder.get_all_topics`)."""
        return [
            KafkaConsumerGroupBuilder.ticketing_service(event_id),
            KafkaConsumerGroupBuilder.seat_reservation_service(event_id),
        ]


def group_name(event_id: int, service: str) -> str:
    """The spec's consumer-group pattern for any service (the builders above name labkit's two)."""
    event_id = parse_event_id(event_id)
    return f"event-id-{event_id}_____{service}--{event_id}"


class PartitionKeyBuilder:
    """Message keys. Keys document locality; the partition itself is always passed explicitly."""

    @staticmethod
    def section_based(event_id: int, section_id: str, partition: int) -> str:
        """`event-1-section-A-1-partition-0`: for messages about one subsection's seats."""
        event_id = parse_event_id(event_id)
        if not is_int(partition) or partition < 0:
            raise ConfigError(f"partition must be a non-negative integer, got {partition!r}")
        if not isinstance(section_id, str) or not section_id:
            raise ConfigError(f"section_id must be a non-empty string like 'A-1', got {section_id!r}")
        return f"event-{event_id}-section-{section_id}-partition-{partition}"

    @staticmethod
    def booking_with_id(event_id: int, booking_id: str | uuid.UUID) -> str:
        """`event-1-booking-<uuid>`: for replies about one booking, so they stay in order. Booking ids are UUIDs,
        given as a `uuid.UUID` or its string form."""
        event_id = parse_event_id(event_id)
        if isinstance(booking_id, uuid.UUID):
            booking_id = str(booking_id)
        if not isinstance(booking_id, str) or not booking_id:
            raise ConfigError(f"booking_id must be a UUID or a non-empty string, got {booking_id!r}")
        return f"event-{event_id}-booking-{booking_id}"
