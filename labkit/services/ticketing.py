"""The ticketing service: validates and sends bookings, records the replies."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Message

from labkit.checks import is_int, parse_event_id
from labkit.domain.booking import Booking, OutcomeBoard
from labkit.domain.messages import ReserveSeats, SeatReservationFailed, SeatReserved, decode, encode, now_ms
from labkit.domain.naming import TICKETING_SERVICE, KafkaTopicBuilder, PartitionKeyBuilder
from labkit.domain.partitioning import SectionBasedPartitionStrategy
from labkit.domain.seating import SeatingConfig
from labkit.errors import ConfigError, EventNotSetUpError, MessageError
from labkit.kafka.admin import Admin
from labkit.kafka.producer import ReliableProducer
from labkit.runtime import Runtime
from labkit.services.booking_tracker import StoreTracker
from labkit.services.dead_letter import park
from labkit.store.bookings import BookingStore
from labkit.store.inventory import MAX_QUANTITY, SeatInventory

ORDER_FIELDS = {"section", "subsection", "quantity", "seats", "buyer_id", "allow_split"}


class TicketingService:
    """Books seats: validate, record PENDING, send reserve-seats to the subsection's partition. Thread-safe."""

    def __init__(
        self,
        store: BookingStore,
        producer: ReliableProducer,
        board: OutcomeBoard,
        admin: Admin | None = None,
        inventory: SeatInventory | None = None,
        max_quantity: int = MAX_QUANTITY,
    ) -> None:
        """`admin` lets a booking that times out say whether any consumer was running; with `inventory` too, an
        event set up elsewhere (another process) is learned on its first booking."""
        self.tracker = StoreTracker(store, board, admin)
        self.store = store
        self.producer = producer
        self.admin = admin
        self.inventory = inventory
        self.max_quantity = max_quantity
        self._strategies: dict[int, SectionBasedPartitionStrategy] = {}

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> TicketingService:
        """The service on the runtime's clients, with a producer of its own whose delivery reports are served
        in the background (nothing else polls it between bookings). `close()` closes that producer."""
        settings = runtime.settings
        tuning = settings.tuning
        producer = ReliableProducer(
            runtime.bootstrap_servers,
            settings.producer_instance_id,
            lanes=tuning.sender_lanes,
            linger_ms=tuning.producer_linger_ms,
        )
        producer.serve_reports_in_background()
        return cls(runtime.store, producer, runtime.board, runtime.admin, runtime.inventory)

    def close(self) -> None:
        self.producer.close()

    def register_event(self, event_id: int, seating: SeatingConfig, partitions: int) -> None:
        """Remember the event's venue and its reserve topic's partition count (metadata once, never per booking)."""
        self._strategies[event_id] = SectionBasedPartitionStrategy(seating, partitions)

    def forget_event(self, event_id: int) -> None:
        """After the event was deleted: a booking for it must be refused, not sent to a missing topic."""
        self._strategies.pop(event_id, None)

    def event_strategy(self, event_id: int) -> SectionBasedPartitionStrategy:
        """The event's partitioning; an event not registered here is learned once (venue from Redis, partitions
        from Kafka) when the service has the clients to, else EventNotSetUpError."""
        strategy = self._strategies.get(event_id)
        if strategy is not None:
            return strategy
        if self.inventory is None or self.admin is None:
            raise EventNotSetUpError(event_id)
        seating = self.inventory.require_seating(event_id)
        topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
        metadata = self.admin.metadata(topic).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise ConfigError(f"event {event_id} has no topic {topic}: call setup_event(event_id={event_id})")
        self.register_event(event_id, seating, len(metadata.partitions))
        return self._strategies[event_id]

    def book(
        self,
        event_id: int,
        section: str,
        subsection: int,
        quantity: int | None = None,
        seats: Sequence[str] | None = None,
        buyer_id: str = "lab",
        allow_split: bool = True,
    ) -> Booking:
        """Validate first (ValueError naming the problem, nothing sent), then record PENDING and send."""
        order = {
            "section": section,
            "subsection": subsection,
            "quantity": quantity,
            "seats": seats,
            "buyer_id": buyer_id,
            "allow_split": allow_split,
        }
        return self.book_many(event_id, [order])[0]

    def book_many(self, event_id: int, orders: Sequence[Mapping[str, Any]]) -> list[Booking]:
        """Many bookings at once, each order holding book()'s arguments (section, subsection, quantity or seats,
        optionally buyer_id, allow_split). All are validated before anything is recorded or sent; then one
        Redis round trip records them all PENDING and the requests are queued for Kafka."""
        event_id = parse_event_id(event_id)
        strategy = self.event_strategy(event_id)
        planned = []
        for index, order in enumerate(orders):
            unknown = set(order) - ORDER_FIELDS
            if unknown:
                raise ConfigError(f"order {index}: unknown field(s) {sorted(unknown)}; allowed: {sorted(ORDER_FIELDS)}")
            section, subsection = order.get("section"), order.get("subsection")
            try:
                partition = strategy.get_partition_for_subsection(section, subsection, event_id)  # type: ignore[arg-type]
                request = self._request(
                    strategy.seating,
                    event_id,
                    section,  # type: ignore[arg-type]  # checked by get_partition_for_subsection above
                    subsection,  # type: ignore[arg-type]
                    order.get("quantity"),
                    order.get("seats"),
                    order.get("buyer_id", "lab"),
                    order.get("allow_split", True),
                )
            except ConfigError as error:
                raise ConfigError(error if len(orders) == 1 else f"order {index}: {error}") from None
            planned.append((request, partition))
        self.store.add_pending(planned)
        topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
        bookings = []
        for request, partition in planned:
            key = PartitionKeyBuilder.section_based(event_id, f"{request.section}-{request.subsection}", partition)
            self.producer.send(topic, encode(request), key, partition)
            bookings.append(
                Booking(request.booking_id, event_id, request.section, request.subsection, partition, self.tracker)
            )
        return bookings

    def _request(
        self,
        seating: SeatingConfig,
        event_id: int,
        section: str,
        subsection: int,
        quantity: int | None,
        seats: Sequence[str] | None,
        buyer_id: str,
        allow_split: bool,
    ) -> ReserveSeats:
        if (quantity is None) == (seats is None):
            raise ConfigError("give either quantity (best available) or seats (manual seat ids), not both or neither")
        if not isinstance(buyer_id, str) or not buyer_id:
            raise ConfigError(f"buyer_id must be a non-empty string, got {buyer_id!r}")
        common: dict[str, Any] = {
            "booking_id": str(uuid.uuid4()),
            "event_id": event_id,
            "buyer_id": buyer_id,
            "section": section,
            "subsection": subsection,
            "requested_at": now_ms(),
        }
        if seats is None:
            if not is_int(quantity) or not 1 <= quantity <= self.max_quantity:
                raise ConfigError(f"quantity must be an integer from 1 to {self.max_quantity}, got {quantity!r}")
            return ReserveSeats(mode="best_available", quantity=quantity, allow_split=bool(allow_split), **common)
        if isinstance(seats, str) or not 1 <= len(seats) <= self.max_quantity:
            raise ConfigError(
                f"seats must be a list of 1 to {self.max_quantity} seat ids like 'A-1-3-5', got {seats!r}"
            )
        seating.manual_positions(section, subsection, seats)
        return ReserveSeats(mode="manual", quantity=len(seats), seat_ids=tuple(seats), **common)


class ReplyHandler:
    """The ticketing consumer's work: record each reply's outcome once, wake waiters, park what is unreadable."""

    def __init__(self, event_id: int, store: BookingStore, producer: ReliableProducer, board: OutcomeBoard) -> None:
        self.event_id = event_id
        self.store = store
        self.producer = producer
        self.board = board

    def handle_batch(self, batch: list[Message]) -> None:
        replies: list[SeatReserved | SeatReservationFailed] = []
        for message in batch:
            try:
                reply = decode(message.value())
                if not isinstance(reply, SeatReserved | SeatReservationFailed):
                    raise MessageError(f"expected a reply, got a {reply.TYPE} message")
                if reply.event_id != self.event_id:
                    raise MessageError(f"event_id {reply.event_id} on event {self.event_id}'s topic")
            except MessageError as exc:
                park(self.producer, self.event_id, TICKETING_SERVICE, message, str(exc))
                continue
            replies.append(reply)
        self.store.record_outcomes(replies, now_ms())  # dead letters: the worker commits once they are acknowledged
        self.board.notify([r.booking_id for r in replies])
