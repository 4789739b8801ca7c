"""The Lab: the notebooks' facade over the runtime, the services and the experiments' tables.

with Lab() as lab:
    lab.up(brokers=3)
    lab.setup_event(event_id=1)
    lab.start_consumers(ticketing=4, seat_reservation=4)
    lab.book(event_id=1, section="A", subsection=1, quantity=2).wait()

Each method is a line or two over the part that does the work: `TicketingService` sends, `EventLifecycle` sets
events up and deletes them, `ConsumerThreads` runs the consumers, `labkit.experiments.frames` shapes the tables.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from labkit.checks import parse_event_id
from labkit.cluster.local import LocalCluster
from labkit.cluster.registry import DEFAULT_REGISTRY_PORT, SchemaRegistryServer
from labkit.cluster.tools import tool_output
from labkit.cluster.warmup import WarmUp
from labkit.domain.booking import Booking
from labkit.domain.seating import SeatingConfig
from labkit.errors import EventBusyError, LabkitError
from labkit.experiments.chaos import Chaos
from labkit.experiments.cluster_needs import ClusterNeeds, require
from labkit.experiments.frames import LabTables
from labkit.kafka.clients import connection_config
from labkit.kafka.settling import Settling
from labkit.lazy import Lazy
from labkit.runtime import Runtime
from labkit.services.consumer_threads import ConsumerThreads
from labkit.services.event_catalog import EventDeletion
from labkit.services.event_lifecycle import EventLifecycle
from labkit.services.ticketing import TicketingService
from labkit.services.workers import SEAT_RESERVATION, TICKETING, check_consumer_counts
from labkit.settings import Settings

log = logging.getLogger(__name__)

SCRATCH_MEMBERS_WAIT = 10.0  # s down() waits for a killed member's session to end before deleting its event


class Lab(LabTables):
    """Cluster, event setup, consumers in background threads, bookings and their results as DataFrames."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._started_cluster = False
        self._started_registry = False
        self._runtime: Lazy[Runtime] = Lazy()  # built on first use (after up()), released by down()
        self._events: Lazy[EventLifecycle] = Lazy()  # built on first use, with the ticketing service inside
        self._threads = ConsumerThreads(self.settings.consumer_instance_id, self.settings.tuning.stop_timeout)
        self.events_set_up: set[int] = set()  # by this Lab: what a test or an experiment may tear down after
        self._scratch_events: set[int] = set()  # made by new_event(): deleted by down() if still there
        self.last_settling: Settling | None = None  # the brokers' settling after setup_event last created topics
        self.last_warmup: WarmUp | None = None  # how warming up the brokers went, if up() started them
        self._chaos: Lazy[Chaos] = Lazy()  # built on first use; down() undoes its faults still timed

    # -- cluster and clients -----------------------------------------------------------------------------------
    def up(self, brokers: int = 3, network: str | None = None) -> Lab:
        """Start the embedded cluster (or find it running); with KAFKA_BOOTSTRAP_SERVERS set, start nothing.
        `network="namespaces"`: each broker on an address of its own, so that `chaos` can cut links."""
        if not self.settings.external:
            cluster = LocalCluster(self.settings.home)
            # the learner sees it warm up
            self._started_cluster |= cluster.up_from_nothing(brokers, progress=print, network=network)
            self.last_warmup = cluster.last_warmup or self.last_warmup
        return self

    def registry_up(self, port: int = DEFAULT_REGISTRY_PORT) -> str:
        """The URL of the schema registry's Confluent-compatible API, starting labkit's own (Apicurio Registry, in
        memory) unless it runs from this home; down() stops one it started.
        `SchemaRegistryClient({"url": lab.registry_up()})`."""
        state, started = SchemaRegistryServer(self.settings.home, self.settings.java_home).up(port)
        self._started_registry |= started
        return state.url

    def down(self) -> None:
        """Undo timed faults, stop the consumers, delete new_event()'s events, close the clients, stop the cluster
        and the schema registry if it started them."""
        try:
            if (chaos := self._chaos.take()) is not None:
                chaos.close()
        finally:
            self._stop_everything()

    def _stop_everything(self) -> None:
        self.stop_consumers()
        for event_id in sorted(self._scratch_events):
            try:
                self.teardown_event(event_id, wait_for_members=SCRATCH_MEMBERS_WAIT)
            except LabkitError as error:
                log.warning("event %d was left behind: %s (labkit events delete %d)", event_id, error, event_id)
        self._scratch_events.clear()
        events, runtime = self._events.take(), self._runtime.take()
        if events is not None:
            events.close()
        if runtime is not None:
            runtime.close()
        if self._started_registry:
            SchemaRegistryServer(self.settings.home).down()
            self._started_registry = False
        if self._started_cluster:
            LocalCluster(self.settings.home).down()  # stops whatever part of it is still alive
            self._started_cluster = False

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.down()

    @property
    def runtime(self) -> Runtime:
        """The clients, built on first use (ClusterError if no cluster runs) and kept until down()."""
        return self._runtime.get(lambda: Runtime.connect(self.settings))

    @property
    def chaos(self) -> Chaos:
        """Faults for labkit's own cluster: kill, pause, isolate, cut, heal (`labkit.experiments.chaos`)."""
        return self._chaos.get(lambda: Chaos(self.settings))

    @property
    def bootstrap_servers(self) -> str:
        return self.runtime.bootstrap_servers

    @property
    def kafka_config(self) -> dict[str, str]:
        """The start of any client's config for this Lab's cluster: bootstrap.servers, and on a cluster labkit did
        not start its TLS / SASL settings (KAFKA_CLIENT_CONFIG). `Producer({**lab.kafka_config, "acks": "all"})`."""
        return connection_config(self.bootstrap_servers)

    @property
    def redis_url(self) -> str:
        return self.runtime.redis_url

    @property
    def ticketing(self) -> TicketingService:
        """The ticketing service this Lab books through (built on first use, closed by down())."""
        return self._lifecycle().ticketing

    def _lifecycle(self) -> EventLifecycle:
        return self._events.get(lambda: EventLifecycle(self.runtime))

    def require(self, **needs: Any) -> ClusterNeeds:
        """Check this Lab's cluster against what a notebook needs, and print it (see cluster_needs.require):
        StateError naming the first unmet need — at once, before the notebook starts anything."""
        checked = require(self.admin, self.settings.external, **needs)
        print(checked)
        return checked

    def kafka_tool(self, tool: str, *args: str) -> str:
        """What one of Kafka's own tools (`labkit kafka --list`) printed against this Lab's cluster."""
        return tool_output(tool, args, replace(self.settings, kafka_bootstrap_servers=self.bootstrap_servers))

    # -- events ------------------------------------------------------------------------------------------------
    def setup_event(self, event_id: int | None = None, seating: SeatingConfig | None = None) -> dict[str, str]:
        """The event's topics and seats, idempotent: topic → "created" | "exists" (see `last_settling`)."""
        event_id = self._event_id(event_id)
        topics, settling = self._lifecycle().setup(event_id, seating or SeatingConfig.default())
        self.last_settling = settling or self.last_settling
        self.events_set_up.add(event_id)
        return topics

    def new_event(self, seating: SeatingConfig | None = None, event_id: int | None = None) -> int:
        """An event of the experiment's own (a fresh id, or `event_id`), deleted by down() if still there."""
        event_id = self._lifecycle().fresh_event_id() if event_id is None else parse_event_id(event_id)
        self.setup_event(event_id, seating)
        self._scratch_events.add(event_id)
        return event_id

    def teardown_event(self, event_id: int, wait_for_members: float = 0.0) -> EventDeletion:
        """Delete the event everywhere; EventBusyError while its consumers run (members: after `wait_for_members` s)."""
        event_id = parse_event_id(event_id)
        mine = self._threads.reading(EventLifecycle.topics_of(event_id))
        if mine:
            raise EventBusyError(f"event {event_id} has consumer threads here: {mine}; call stop_consumers() first")
        deletion = self._lifecycle().delete(event_id, wait_for_members)
        self.events_set_up.discard(event_id)
        self._scratch_events.discard(event_id)
        return deletion

    def teardown_events(self, event_ids: Sequence[int], timeout: float = 120.0) -> None:
        """Delete these events, then wait until nothing names them any more: a notebook's last cell."""
        wanted = {parse_event_id(e) for e in event_ids}
        for event_id in sorted(wanted):
            self.teardown_event(event_id, wait_for_members=timeout)
        self._lifecycle().wait_until_gone(wanted, timeout)

    # -- consumers ---------------------------------------------------------------------------------------------
    def start_consumers(self, ticketing: int = 4, seat_reservation: int = 4, event_id: int | None = None) -> None:
        """Add this many consumer threads per service (returns at once; the group rebalances in the background)."""
        event_id = self._event_id(event_id)
        check_consumer_counts(ticketing=ticketing, seat_reservation=seat_reservation)
        self.ticketing.event_strategy(event_id)  # EventNotSetUpError (no venue, no topic) before any thread starts
        for service, count in ((TICKETING, ticketing), (SEAT_RESERVATION, seat_reservation)):
            for _ in range(count):
                self._threads.start(service, self.runtime, event_id)

    def remove_consumer(self, service: str) -> str:
        """Stop the newest consumer thread of `service` ('ticketing' or 'seat-reservation'); returns its client id."""
        return self._threads.remove(service)

    def pause_consumers(self, service: str, timeout: float = 30.0) -> None:
        """The threads of `service` stop fetching (`Consumer.pause`), keeping their partitions, until resumed."""
        self._threads.pause(service, timeout)

    def resume_consumers(self, service: str) -> None:
        self._threads.resume(service)

    def stop_consumers(self) -> None:
        """Each thread finishes its batch, commits and leaves its group; all are joined."""
        self._threads.stop_all()

    def wait_for_consumers(self, timeout: float = 60.0) -> None:
        """Until this Lab's threads own every partition of their topics, evenly (at most one more per topic)."""
        self._threads.wait_settled(self.admin, timeout)

    # -- bookings ----------------------------------------------------------------------------------------------
    def book(
        self,
        event_id: int | None = None,
        section: str = "A",
        subsection: int = 1,
        quantity: int | None = None,
        seats: Sequence[str] | None = None,
        buyer_id: str = "lab",
        allow_split: bool = True,
    ) -> Booking:
        """Send one booking (thread-safe); `quantity` best-available seats or exactly `seats`."""
        event_id = self._event_id(event_id)
        return self.ticketing.book(event_id, section, subsection, quantity, seats, buyer_id, allow_split)

    def book_many(self, orders: Sequence[Mapping[str, Any]], event_id: int | None = None) -> list[Booking]:
        """Many bookings in one Redis round trip, each order a dict of book()'s arguments; all checked first."""
        return self.ticketing.book_many(self._event_id(event_id), orders)

    def flush(self, timeout: float = 30.0) -> None:
        """Until every booking sent so far is acknowledged by the brokers (before reading offsets or lag)."""
        events = self._events.peek()
        if events is not None and events.built_ticketing:
            events.ticketing.producer.confirm(timeout)
