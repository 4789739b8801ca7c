"""The Lab: the one entry point the notebooks, the dashboard and the CLI use.

with Lab() as lab:
    lab.up(brokers=3)
    lab.setup_event(event_id=1)
    lab.start_consumers(ticketing=4, seat_reservation=4)
    lab.book(event_id=1, section="A", subsection=1, quantity=2).wait()
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields, replace
from types import TracebackType
from typing import Any

import pandas as pd
import redis
from IPython.display import HTML

from labkit.cluster.local import LocalCluster
from labkit.cluster.tools import run_tool
from labkit.cluster.warmup import WarmUp
from labkit.domain.booking import Booking
from labkit.domain.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder
from labkit.domain.seating import SeatingConfig
from labkit.errors import ClusterError, ConfigError, EventBusyError, LabkitError, WaitTimeout
from labkit.experiments.partition_panel import PartitionCell, partition_panel_html, read_partition_cells
from labkit.kafka.admin import describe_group, describe_partitions, list_topics
from labkit.kafka.clients import Admin
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.settling import Settling
from labkit.polling import poll
from labkit.runtime import Runtime
from labkit.services.consumer_threads import ConsumerThreads
from labkit.services.event_catalog import EventDeletion, delete_event, group_member_counts, list_events
from labkit.services.event_topics import create_event_topics, event_topics
from labkit.services.ticketing import TicketingService
from labkit.services.workers import SEAT_RESERVATION, TICKETING, check_consumer_counts
from labkit.settings import Settings, parse_event_id
from labkit.store.bookings import BookingRecord, BookingStore
from labkit.store.inventory import SeatInventory

log = logging.getLogger(__name__)

SCRATCH_EVENT_IDS = (1_000, 10_000)  # new_event() draws from these: short enough to read in a topic name
SCRATCH_MEMBERS_WAIT = 10.0  # s down() waits for a killed member's session to end before deleting its event


class Lab:
    """Cluster, event setup, consumers in background threads, bookings and their results as DataFrames."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._started_cluster = False
        self._lock = threading.Lock()
        self._runtime: Runtime | None = None  # built on first use (after up()), released by down()
        self._ticketing: TicketingService | None = None
        self._threads = ConsumerThreads(self.settings.consumer_instance_id)
        self._partition_counts: dict[str, int] = {}
        self._fresh_ids = random.Random()
        self.events_set_up: set[int] = set()  # by this Lab: what a test or an experiment may tear down after
        self._scratch_events: set[int] = set()  # made by new_event(): deleted by down() if still there
        # the wait after setup_event last created topics, until the brokers answered quickly again (or None)
        self.last_settling: Settling | None = None
        self.last_warmup: WarmUp | None = None  # how warming up the brokers went, if up() started them

    # -- cluster -----------------------------------------------------------------------------------------------
    def up(self, brokers: int = 3) -> Lab:
        """Start the embedded cluster (or find it running); with KAFKA_BOOTSTRAP_SERVERS set, start nothing."""
        if not self.settings.external:
            cluster = LocalCluster(self.settings.home)
            state = cluster.load()
            was_alive = state is not None and cluster.status(state).anything_alive
            _, started = cluster.up(brokers=brokers, warm=True, progress=print)  # the learner sees it warm up
            # Owned, and stopped by down(), only if this Lab started it from nothing: a broker it restarted after
            # a crash (notebook 06's) belongs to a cluster someone else started, as do the others and Redis.
            self._started_cluster = self._started_cluster or (started and not was_alive)
            if cluster.last_warmup is not None:
                self.last_warmup = cluster.last_warmup
                print(f"brokers {cluster.last_warmup}")
        return self

    def down(self) -> None:
        """Stop the consumers, delete the events new_event() made that are still there, close the clients, and
        stop the cluster if this Lab started it."""
        self.stop_consumers()
        self._delete_scratch_events()
        with self._lock:
            if self._ticketing is not None:
                self._ticketing.producer.close()
                self._ticketing = None
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.close()
        if self._started_cluster:
            LocalCluster(self.settings.home).down()  # stops whatever part of it is still alive
            self._started_cluster = False

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.down()

    @property
    def runtime(self) -> Runtime:
        """The clients this Lab runs on, built on first use (ClusterError if no cluster runs), then kept until
        down(): while a broker is down on purpose the cluster is not 'running', yet its addresses are the same
        and the survivors still serve."""
        runtime = self._runtime
        if runtime is not None:  # the hot path of book(): no lock
            return runtime
        with self._lock:
            if self._runtime is None:
                self._runtime = Runtime.connect(self.settings)
            return self._runtime

    # The runtime's parts, by the names notebooks use.
    @property
    def bootstrap_servers(self) -> str:
        return self.runtime.bootstrap_servers

    @property
    def redis_url(self) -> str:
        return self.runtime.redis_url

    @property
    def redis(self) -> redis.Redis:
        return self.runtime.redis

    @property
    def admin(self) -> Admin:
        return self.runtime.admin

    @property
    def inventory(self) -> SeatInventory:
        return self.runtime.inventory

    @property
    def store(self) -> BookingStore:
        return self.runtime.store

    def _event_id(self, event_id: int | None) -> int:
        """The event a call is about: the argument, else the settings' EVENT_ID; checked either way."""
        return parse_event_id(self.settings.event_id if event_id is None else event_id)

    def _ticketing_service(self) -> TicketingService:
        if self._ticketing is not None:  # the hot path of book(): no lock, no new objects
            return self._ticketing
        runtime = self.runtime
        with self._lock:
            if self._ticketing is None:
                lanes = self.settings.tuning.sender_lanes
                producer = ReliableProducer(runtime.bootstrap_servers, self.settings.producer_instance_id, lanes=lanes)
                producer.serve_reports_in_background()  # nothing else polls it between bookings
                self._ticketing = TicketingService(runtime.store, producer, runtime.board, runtime.admin)
            return self._ticketing

    # -- events ------------------------------------------------------------------------------------------------
    def setup_event(self, event_id: int | None = None, seating: SeatingConfig | None = None) -> dict[str, str]:
        """Create the event's topics and its seats (both idempotent); returns topic → "created" | "exists".

        After creating topics it waits until the brokers answer quickly again (bounded; `last_settling` says
        how long): each broker creates a log per partition replica, and an experiment started meanwhile would
        measure that instead of the event (README, "Why these settings")."""
        event_id = self._event_id(event_id)
        seating = seating or SeatingConfig.default()
        topics, settling = create_event_topics(event_id, seating, self.runtime)
        if settling is not None:
            self.last_settling = settling
        self.inventory.setup(event_id, seating)
        self._ticketing_service().register_event(event_id, seating, seating.subsection_count)
        self.events_set_up.add(event_id)
        return topics

    def new_event(self, seating: SeatingConfig | None = None, event_id: int | None = None) -> int:
        """Set up an event of this experiment's own and return its id: a fresh id (no topic, group or Redis key of
        it exists, so its seats are all free and its topics empty), or `event_id` if one is given.

        Delete it with teardown_event() when done; down() deletes it otherwise, so a notebook re-run from the top
        or stopped half-way leaves no event behind.
        """
        if event_id is None:
            taken = {e.event_id for e in list_events(self.admin, self.redis)}
            event_id = self._fresh_ids.choice([i for i in range(*SCRATCH_EVENT_IDS) if i not in taken])
        event_id = parse_event_id(event_id)
        self.setup_event(event_id, seating)
        self._scratch_events.add(event_id)
        return event_id

    def _delete_scratch_events(self) -> None:
        for event_id in sorted(self._scratch_events):
            try:
                self.teardown_event(event_id, wait_for_members=SCRATCH_MEMBERS_WAIT)
            except LabkitError as error:
                log.warning("event %d was left behind: %s (labkit events delete %d)", event_id, error, event_id)
                self._scratch_events.discard(event_id)

    def teardown_event(self, event_id: int, wait_for_members: float = 0.0) -> EventDeletion:
        """Delete the event's topics, consumer groups and Redis keys: what an experiment leaves behind costs the
        brokers CPU on every fetch round. Refused (EventBusyError) while consumers of the event run — this
        Lab's threads, or members elsewhere still in a group after `wait_for_members` s."""
        event_id = parse_event_id(event_id)
        topics = set(KafkaTopicBuilder.get_all_topics(event_id))
        mine = self._threads.reading(topics)
        if mine:
            raise EventBusyError(f"event {event_id} has consumer threads here: {mine}; call stop_consumers() first")
        deletion = delete_event(self.admin, self.redis, event_id, wait_for_members)
        self.inventory.forget(event_id)
        if self._ticketing is not None:
            self._ticketing.forget_event(event_id)
        for topic in topics:
            self._partition_counts.pop(topic, None)
        self.events_set_up.discard(event_id)
        self._scratch_events.discard(event_id)
        return deletion

    def teardown_events(self, event_ids: Sequence[int], timeout: float = 120.0) -> None:
        """Delete these events (waiting up to `timeout` s for crashed members' sessions to end), then wait until
        nothing on the cluster or in Redis names them any more: right after a broker restart a deleted topic or
        group can stay listed for a while. A notebook's last cell; TimeoutError says what is still listed."""
        wanted = {parse_event_id(e) for e in event_ids}
        for event_id in sorted(wanted):
            self.teardown_event(event_id, wait_for_members=timeout)
        left: list[dict[str, Any]] = []

        def gone() -> bool:
            events = self.events()
            left[:] = events[events.event_id.isin(wanted)].to_dict("records")
            return not left

        if not poll(gone, timeout):
            raise WaitTimeout(f"{timeout:.0f} s after their deletion, still listed: {left}")

    def _ensure_registered(self, event_id: int) -> TicketingService:
        """An event set up elsewhere (another process) is learned once: venue from Redis, partitions from Kafka."""
        service = self._ticketing_service()
        if not service.knows_event(event_id):
            seating = self.inventory.require_seating(event_id)
            topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
            metadata = self.admin.metadata(topic).topics.get(topic)
            if metadata is None or metadata.error is not None:
                raise ConfigError(f"event {event_id} has no topic {topic}: call setup_event(event_id={event_id})")
            service.register_event(event_id, seating, len(metadata.partitions))
        return service

    # -- consumers ---------------------------------------------------------------------------------------------
    def start_consumers(self, ticketing: int = 4, seat_reservation: int = 4, event_id: int | None = None) -> None:
        """Add this many consumer threads per service (returns at once; the group rebalances in the background)."""
        event_id = self._event_id(event_id)
        check_consumer_counts(ticketing=ticketing, seat_reservation=seat_reservation)
        self._ensure_registered(event_id)
        for service, count in ((TICKETING, ticketing), (SEAT_RESERVATION, seat_reservation)):
            for _ in range(count):
                self._threads.start(service, self.runtime, event_id)

    def remove_consumer(self, service: str) -> str:
        """Stop the newest consumer thread of `service` ('ticketing' or 'seat-reservation'); returns its client id."""
        return self._threads.remove(service)

    def pause_consumers(self, service: str, timeout: float = 30.0) -> None:
        """The consumer threads of `service` stop fetching (Kafka's `Consumer.pause`) but stay in their group,
        heartbeating and keeping their partitions: messages wait in the partitions (lag) until
        `resume_consumers`. Returns once every thread has paused."""
        self._threads.pause(service)
        if not poll(lambda: self._threads.paused(service), timeout):
            raise WaitTimeout(f"the {service} consumers did not pause within {timeout} s")

    def resume_consumers(self, service: str) -> None:
        """The paused consumer threads of `service` fetch again, from where they stopped."""
        self._threads.resume(service)

    def consumers(self) -> pd.DataFrame:
        """One row per consumer thread: service, client id, alive, messages processed, partitions assigned."""
        return self._threads.table()

    def group_members(self, event_id: int | None = None) -> dict[str, int]:
        """Members of each of the event's consumer groups (threads here and processes anywhere), ticketing's first."""
        return group_member_counts(self.admin, self._event_id(event_id))

    def partition_panel(self, event_id: int | None = None) -> HTML:
        """The event's reserve-seats partitions as a grid (sections by subsections): the seat-reservation group's
        lag, the owning consumer and the seats left in each; the dashboard shows the same panel live."""
        event_id = self._event_id(event_id)
        return HTML(partition_panel_html(self.inventory.require_seating(event_id), self._partition_cells(event_id)))

    def reservation_lag(self, event_id: int | None = None) -> pd.DataFrame:
        """partition, subsection, lag, owner, seats_left, committed, log_end — one row per reserve-seats partition:
        what the partition panel draws. Lag is the log-end offset minus the seat-reservation group's committed
        offset (a partition never committed counts from 0: a consumer that gets it reads it from the start)."""
        cells = self._partition_cells(self._event_id(event_id))
        return pd.DataFrame(
            [(c.partition, c.subsection_id, c.lag, c.owner, c.seats_left, c.committed, c.log_end) for c in cells],
            columns=["partition", "subsection", "lag", "owner", "seats_left", "committed", "log_end"],
        )

    def _partition_cells(self, event_id: int) -> list[PartitionCell]:
        seating = self.inventory.require_seating(event_id)
        return read_partition_cells(self.admin, self.redis, event_id, seating)

    def events(self) -> pd.DataFrame:
        """event_id, topics, partitions, groups, has_seats — every event on the cluster and in Redis (what
        `labkit events list` prints)."""
        rows = [asdict(e) for e in list_events(self.admin, self.redis)]
        return pd.DataFrame(rows, columns=["event_id", "topics", "partitions", "groups", "has_seats"])

    def kafka_tool(self, tool: str, *args: str) -> str:
        """Run one of Apache Kafka's own tools (`kafka-consumer-groups`, `kafka-topics`, … see `labkit kafka
        --list`) against this Lab's cluster and return what it printed; ClusterError with its stderr if it fails."""
        result = run_tool(tool, args, replace(self.settings, kafka_bootstrap_servers=self.bootstrap_servers))
        if result.returncode != 0:
            raise ClusterError(f"{tool} exited with {result.returncode}: {result.stderr.strip()[-1000:]}")
        return result.stdout

    def rebalances(self) -> pd.DataFrame:
        """service, client_id, at (time), kind (assigned / revoked / lost), partitions — one row per change of a
        consumer thread's assignment, oldest first: which partitions moved when a member joined or left."""
        return self._threads.rebalances()

    def stop_consumers(self) -> None:
        """Stop every consumer thread: each finishes its batch, commits, leaves its group; then join them."""
        self._threads.stop_all()

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
        service = self._ensure_registered(event_id)
        return service.book(event_id, section, subsection, quantity, seats, buyer_id, allow_split)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every booking sent so far is in Kafka (acknowledged by the brokers). `book()` returns once
        the request is queued; flush before reading offsets or lag that must include it."""
        if self._ticketing is not None:
            self._ticketing.producer.confirm(timeout)

    def book_many(self, orders: Sequence[Mapping[str, Any]], event_id: int | None = None) -> list[Booking]:
        """Many bookings in one Redis round trip (thread-safe): each order a dict of book()'s arguments, e.g.
        `{"section": "A", "subsection": 1, "quantity": 2}`. All are validated before any is sent."""
        event_id = self._event_id(event_id)
        return self._ensure_registered(event_id).book_many(event_id, orders)

    def bookings(self, event_id: int | None = None) -> pd.DataFrame:
        """booking_id, section, subsection, partition, status, seats, reason, latency_ms — one row per booking."""
        event_id = self._event_id(event_id)
        rows = [
            {**asdict(b), "seats": list(b.seats), "requested_at": pd.to_datetime(b.requested_at, unit="ms")}
            for b in self.store.all(event_id)
        ]
        return pd.DataFrame(rows, columns=[f.name for f in fields(BookingRecord)])

    def seat_map(
        self, event_id: int | None = None, section: str | None = None, subsection: int | None = None
    ) -> pd.DataFrame:
        """seat_id, section, subsection, row, seat, state, booking_id — one row per seat of the venue (or of one
        section / subsection)."""
        event_id = self._event_id(event_id)
        columns = ["seat_id", "section", "subsection", "row", "seat", "state", "booking_id"]
        return pd.DataFrame(self.inventory.seat_states(event_id, section, subsection), columns=columns)

    def stats(self, event_id: int | None = None) -> dict[str, Any]:
        """Ticketing counters (sent, RESERVED, FAILED, failed:<reason>) and seat counters (available, reserved)."""
        event_id = self._event_id(event_id)
        return {
            "ticketing": self.store.stats(event_id),
            "seats": self.inventory.counters(event_id),
            "topics": list(event_topics(event_id, self.inventory.seating(event_id))),
        }

    # -- looking at Kafka --------------------------------------------------------------------------------------
    def partitions(self, event_id: int | None = None) -> pd.DataFrame:
        """topic, partition, leader, replicas, isr, under_replicated (fewer in sync than replicas) — one row per
        partition of the event's topics."""
        event_id = self._event_id(event_id)
        topics = list(event_topics(event_id, self.inventory.seating(event_id)))
        rows = describe_partitions(self.admin, topics)
        return pd.DataFrame(
            [
                {
                    "topic": r.topic,
                    "partition": r.partition,
                    "leader": r.leader,
                    "replicas": list(r.replicas),
                    "isr": list(r.isr),
                    "under_replicated": len(r.isr) < len(r.replicas),
                }
                for r in rows
            ],
            columns=["topic", "partition", "leader", "replicas", "isr", "under_replicated"],
        )

    def groups(self, event_id: int | None = None) -> pd.DataFrame:
        """group, protocol, state, client_id, partitions (count), lag — one row per member of the event's two groups, as
        the brokers see them (consumer threads here and consumer processes anywhere)."""
        event_id = self._event_id(event_id)
        rows = []
        for group_id in KafkaConsumerGroupBuilder.get_all_groups(event_id):
            group = describe_group(self.admin, group_id)
            lag = {m.member_id: 0 for m in group.members}
            for p in group.partitions:
                if p.member_id in lag:
                    lag[p.member_id] += p.lag
            rows += [
                {
                    "group": group_id,
                    "protocol": group.protocol,
                    "state": group.state,
                    "client_id": m.client_id,
                    "partitions": len(m.partitions),
                    "lag": lag[m.member_id],
                }
                for m in group.members
            ]
        return pd.DataFrame(rows, columns=["group", "protocol", "state", "client_id", "partitions", "lag"])

    def wait_for_consumers(self, timeout: float = 60.0) -> None:
        """Block until this Lab's consumer threads together own every partition of their topics, each thread
        at least one (when there are enough partitions) and about as many as the others (at most one more per
        topic): the groups have settled after a start or a removal."""
        if not poll(lambda: self._threads.settled(self._partition_count), timeout):
            state = self.consumers().to_dict("records")
            raise WaitTimeout(f"consumer groups did not settle within {timeout} s: {state}")

    def _partition_count(self, topic: str) -> int | None:
        if topic not in self._partition_counts:
            self._partition_counts.update(list_topics(self.admin))
        return self._partition_counts.get(topic)
