"""An event set up and deleted as one: its topics, its seats and its place in the ticketing service; on deletion
every trace of it, the caches of the services that hold it included, so no caller forgets one."""

from __future__ import annotations

import random

from labkit.checks import parse_event_id
from labkit.domain.naming import KafkaTopicBuilder
from labkit.domain.seating import SeatingConfig
from labkit.errors import WaitTimeout
from labkit.kafka.settling import Settling
from labkit.lazy import Lazy
from labkit.polling import poll
from labkit.runtime import Runtime
from labkit.services.event_catalog import EventDeletion, EventInfo, delete_event, list_events
from labkit.services.event_topics import create_event_topics
from labkit.services.ticketing import TicketingService

SCRATCH_EVENT_IDS = (1_000, 10_000)  # fresh_event_id() draws from these: short enough to read in a topic name


class EventLifecycle:
    """Sets up and deletes events on the runtime's cluster and Redis, and owns the ticketing service that books
    them (built on first use: a Lab that only looks opens no producer)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._ticketing: Lazy[TicketingService] = Lazy()
        self._fresh_ids = random.Random()

    @property
    def ticketing(self) -> TicketingService:
        return self._ticketing.get(lambda: TicketingService.for_runtime(self.runtime))

    @property
    def built_ticketing(self) -> bool:
        return self._ticketing.peek() is not None

    def close(self) -> None:
        service = self._ticketing.take()
        if service is not None:
            service.close()

    def setup(self, event_id: int, seating: SeatingConfig) -> tuple[dict[str, str], Settling | None]:
        """The event's topics and seats (both idempotent), registered for booking: topic → "created" |
        "exists", and how long the brokers took to answer quickly again if a topic was created."""
        topics, settling = create_event_topics(event_id, seating, self.runtime)
        self.runtime.inventory.setup(event_id, seating)
        service = self._ticketing.peek()
        if service is not None:  # else it learns the event on its first booking
            service.register_event(event_id, seating, seating.subsection_count)
        return topics, settling

    def delete(self, event_id: int, wait_for_members: float = 0.0) -> EventDeletion:
        """Delete the event's topics, groups and Redis keys (EventBusyError while a group has members after
        `wait_for_members` s); the inventory and the ticketing service forget it."""
        deletion = delete_event(self.runtime.admin, self.runtime.redis, event_id, wait_for_members)
        self.runtime.inventory.forget(event_id)
        service = self._ticketing.peek()
        if service is not None:
            service.forget_event(event_id)
        return deletion

    def wait_until_gone(self, event_ids: set[int], timeout: float) -> None:
        """Until nothing on the cluster or in Redis names these events (right after a broker restart a deleted
        topic or group can stay listed for a while); WaitTimeout says what is still listed."""
        left: list[EventInfo] = []

        def gone() -> bool:
            left[:] = [e for e in list_events(self.runtime.admin, self.runtime.redis) if e.event_id in event_ids]
            return not left

        if not poll(gone, timeout):
            raise WaitTimeout(f"{timeout:.0f} s after their deletion, still listed: {left}")

    def fresh_event_id(self) -> int:
        """An id in SCRATCH_EVENT_IDS that no topic, group or Redis key names."""
        taken = {e.event_id for e in list_events(self.runtime.admin, self.runtime.redis)}
        return parse_event_id(self._fresh_ids.choice([i for i in range(*SCRATCH_EVENT_IDS) if i not in taken]))

    @staticmethod
    def topics_of(event_id: int) -> set[str]:
        return set(KafkaTopicBuilder.get_all_topics(parse_event_id(event_id)))
