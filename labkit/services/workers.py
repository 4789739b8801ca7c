"""A service's consumer, built one way for every place that runs one: a Lab's threads and a consumer process."""

from __future__ import annotations

from labkit.checks import is_int
from labkit.domain.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder
from labkit.errors import ConfigError
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.worker import BatchWorker, Handler
from labkit.runtime import Runtime
from labkit.services.seat_reservation import SeatReservationService
from labkit.services.ticketing import ReplyHandler

# The services, spelt as in the spec's group and topic names (`…_____seat-reservation-service--1`).
TICKETING, SEAT_RESERVATION = "ticketing", "seat-reservation"
SERVICES = (TICKETING, SEAT_RESERVATION)


MAX_CONSUMERS = 32  # per service and event: past the partitions of a small venue, and what 2 cores can run


def check_consumer_counts(**counts: object) -> dict[str, int]:
    """Each count (named as its argument) a number of consumers from 0 to MAX_CONSUMERS, else ConfigError."""
    for name, count in counts.items():
        if not is_int(count) or not 0 <= count <= MAX_CONSUMERS:
            raise ConfigError(f"{name} must be a number of consumers from 0 to {MAX_CONSUMERS}, got {count!r}")
    return counts  # type: ignore[return-value]  # checked above


def check_service(service: object) -> str:
    if service not in SERVICES:
        raise ConfigError(f"service must be one of {SERVICES}, got {service!r}")
    return service  # type: ignore[return-value]  # one of SERVICES


def build_worker(
    service: str, runtime: Runtime, event_id: int, instance_id: str
) -> tuple[BatchWorker, ReliableProducer]:
    """The consumer of `service` for one event, with the producer it answers through (closed after the worker).

    The ticketing consumer records outcomes in the runtime's BookingStore and wakes waiters on its OutcomeBoard;
    the seat-reservation consumer reserves seats in its SeatInventory.
    """
    tuning = runtime.tuning
    lanes = tuning.reply_lanes if check_service(service) == SEAT_RESERVATION else 1
    producer = ReliableProducer(
        runtime.bootstrap_servers, f"{instance_id}-producer", lanes=lanes, linger_ms=tuning.producer_linger_ms
    )
    handler: Handler
    if service == TICKETING:
        handler = ReplyHandler(event_id, runtime.store, producer, runtime.board).handle_batch
        group = KafkaConsumerGroupBuilder.ticketing_service(event_id)
        topics = [
            KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id),
            KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(event_id),
        ]
        # range: every consumer gets a quarter of *each* reply topic (and the same partition numbers of both).
        # cooperative-sticky balances only the total: two of four consumers could hold all of the (almost empty)
        # seat-reservation-failed topic while the other two did all the work.
        assignor = "range"
    else:
        handler = SeatReservationService(event_id, runtime.inventory, producer).handle_batch
        group = KafkaConsumerGroupBuilder.seat_reservation_service(event_id)
        topics = [KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)]
        assignor = "cooperative-sticky"
    worker = BatchWorker(
        runtime.bootstrap_servers,
        group,
        topics,
        instance_id,
        handler,
        producer,
        assignor=assignor,
        group_protocol=runtime.settings.group_protocol,
        tuning=tuning,
    )
    return worker, producer
