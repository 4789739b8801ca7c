"""A service's consumer, built one way for every place that runs one: a Lab's threads and a consumer process."""

from __future__ import annotations

from labkit.errors import ConfigError
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.worker import BatchWorker
from labkit.services.seat_reservation import seat_reservation_worker
from labkit.services.ticketing import OutcomeBoard, ticketing_worker
from labkit.store.bookings import BookingStore
from labkit.store.inventory import SeatInventory

# The services, spelt as in the spec's group and topic names (`…_____seat-reservation-service--1`).
TICKETING, SEAT_RESERVATION = "ticketing", "seat-reservation"
SERVICES = (TICKETING, SEAT_RESERVATION)


def check_service(service: object) -> str:
    if service not in SERVICES:
        raise ConfigError(f"service must be one of {SERVICES}, got {service!r}")
    return service  # type: ignore[return-value]  # one of SERVICES


def build_worker(
    service: str,
    bootstrap_servers: str,
    event_id: int,
    instance_id: str,
    group_protocol: str,
    store: BookingStore,
    inventory: SeatInventory,
    board: OutcomeBoard,
) -> tuple[BatchWorker, ReliableProducer]:
    """The consumer of `service` for one event, with the producer it answers through (closed after the worker).

    `store` and `board` serve the ticketing consumer (it records outcomes and wakes waiters), `inventory` the
    seat-reservation consumer (it reserves seats).
    """
    if check_service(service) == TICKETING:
        return ticketing_worker(bootstrap_servers, event_id, store, board, instance_id, group_protocol)
    return seat_reservation_worker(bootstrap_servers, event_id, inventory, instance_id, group_protocol=group_protocol)
