"""The seat-reservation service: reserve-seats in, seat-reserved / seat-reservation-failed out."""

from __future__ import annotations

from confluent_kafka import Message

from labkit.domain.messages import ReserveSeats, SeatReserved, decode, encode
from labkit.domain.naming import SEAT_RESERVATION_SERVICE, KafkaTopicBuilder, PartitionKeyBuilder
from labkit.errors import MessageError
from labkit.kafka.producer import ReliableProducer
from labkit.services.dead_letter import park
from labkit.store.inventory import SeatInventory


class SeatReservationService:
    """Handles one batch at a time: decode, reserve (one Redis round trip), reply; its worker commits the batch
    once the replies are acknowledged."""

    def __init__(self, event_id: int, inventory: SeatInventory, producer: ReliableProducer) -> None:
        self.event_id = event_id
        self.inventory = inventory
        self.producer = producer
        self.reserved_topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
        self.failed_topic = KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(event_id)

    def handle_batch(self, batch: list[Message]) -> None:
        requests: list[ReserveSeats] = []
        partitions: list[int] = []
        for message in batch:
            try:
                request = decode(message.value(), ReserveSeats)
            except MessageError as exc:
                park(self.producer, self.event_id, SEAT_RESERVATION_SERVICE, message, str(exc))
                continue
            if request.event_id != self.event_id:
                park(
                    self.producer,
                    self.event_id,
                    SEAT_RESERVATION_SERVICE,
                    message,
                    f"event_id {request.event_id} on event {self.event_id}'s topic",
                )
                continue
            requests.append(request)
            partitions.append(message.partition() or 0)  # a consumed message always has one
        for reservation, partition in zip(self.inventory.reserve(requests), partitions, strict=True):
            reply = reservation.reply
            topic = self.reserved_topic if isinstance(reply, SeatReserved) else self.failed_topic
            # The reply goes to its request's partition (the subsection's), keyed by booking: a booking's
            # replies always share one partition, and a batch touches only this consumer's partitions —
            # hashing the key would spread every batch over all of them, which costs a flush 3-4x more here.
            self.producer.send(
                topic, encode(reply), PartitionKeyBuilder.booking_with_id(self.event_id, reply.booking_id), partition
            )
