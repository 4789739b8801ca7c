"""What the cluster, Redis and the consumers hold, as DataFrames a notebook can filter, count and plot. The Lab's
tables (`lab.bookings()`, `lab.partitions()` …) are `LabTables`, these functions on its clients."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, fields
from typing import Any

import pandas as pd
import redis
from IPython.display import HTML

from labkit.checks import parse_event_id
from labkit.domain.naming import KafkaConsumerGroupBuilder
from labkit.experiments.partition_panel import PartitionCell, partition_panel_html, read_partition_cells
from labkit.kafka.admin import Admin
from labkit.kafka.groups import describe_group
from labkit.kafka.topics import describe_partitions
from labkit.kafka.worker import BatchWorker
from labkit.runtime import Runtime
from labkit.services.consumer_threads import ConsumerThreads
from labkit.services.event_catalog import group_member_counts, list_events
from labkit.services.event_topics import event_topics
from labkit.settings import Settings
from labkit.store.bookings import BookingRecord, BookingStore
from labkit.store.inventory import SeatInventory

SEAT_COLUMNS = ["seat_id", "section", "subsection", "row", "seat", "state", "booking_id"]
PARTITION_COLUMNS = ["topic", "partition", "leader", "replicas", "isr", "under_replicated"]
GROUP_COLUMNS = ["group", "protocol", "state", "client_id", "partitions", "lag"]
EVENT_COLUMNS = ["event_id", "topics", "partitions", "groups", "has_seats"]
CONSUMER_COLUMNS = ["service", "client_id", "alive", "processed", "partitions"]
REBALANCE_COLUMNS = ["service", "client_id", "at", "kind", "partitions"]
LAG_COLUMNS = ["partition", "subsection", "lag", "owner", "seats_left", "committed", "log_end"]


def bookings_frame(store: BookingStore, event_id: int) -> pd.DataFrame:
    """booking_id, section, subsection, partition, status, seats, reason, latency_ms, … — one row per booking."""
    rows = [
        {**asdict(b), "seats": list(b.seats), "requested_at": pd.to_datetime(b.requested_at, unit="ms")}
        for b in store.all(event_id)
    ]
    return pd.DataFrame(rows, columns=[f.name for f in fields(BookingRecord)])


def seat_map_frame(
    inventory: SeatInventory, event_id: int, section: str | None = None, subsection: int | None = None
) -> pd.DataFrame:
    """seat_id, section, subsection, row, seat, state, booking_id — one row per seat (of a section, a subsection)."""
    return pd.DataFrame(inventory.seat_states(event_id, section, subsection), columns=SEAT_COLUMNS)


def partitions_frame(admin: Admin, topics: Iterable[str]) -> pd.DataFrame:
    """topic, partition, leader, replicas, isr, under_replicated (fewer in sync than replicas) — one row per
    partition of these topics."""
    rows = [
        (r.topic, r.partition, r.leader, list(r.replicas), list(r.isr), len(r.isr) < len(r.replicas))
        for r in describe_partitions(admin, list(topics))
    ]
    return pd.DataFrame(rows, columns=PARTITION_COLUMNS)


def groups_frame(admin: Admin, event_id: int) -> pd.DataFrame:
    """group, protocol, state, client_id, partitions (count), lag — one row per member of the event's two groups
    as the brokers see them (consumer threads here and consumer processes anywhere)."""
    rows = []
    for group_id in KafkaConsumerGroupBuilder.get_all_groups(event_id):
        group = describe_group(admin, group_id)
        lag = {m.member_id: 0 for m in group.members}
        for p in group.partitions:
            if p.member_id in lag:
                lag[p.member_id] += p.lag
        rows += [
            (group_id, group.protocol, group.state, m.client_id, len(m.partitions), lag[m.member_id])
            for m in group.members
        ]
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


def events_frame(admin: Admin, client: redis.Redis) -> pd.DataFrame:
    """event_id, topics, partitions, groups, has_seats — every event on the cluster and in Redis."""
    return pd.DataFrame([asdict(e) for e in list_events(admin, client)], columns=EVENT_COLUMNS)


def lag_frame(cells: Iterable[PartitionCell]) -> pd.DataFrame:
    """partition, subsection, lag, owner, seats_left, committed, log_end — one row per reserve-seats partition."""
    rows = [(c.partition, c.subsection_id, c.lag, c.owner, c.seats_left, c.committed, c.log_end) for c in cells]
    return pd.DataFrame(rows, columns=LAG_COLUMNS)


def consumers_frame(workers: Iterable[tuple[str, BatchWorker]]) -> pd.DataFrame:
    """service, client_id, alive, processed (messages), partitions (assigned) — one row per consumer thread."""
    rows = [(service, w.client_id, w.alive, w.processed, len(w.assignment)) for service, w in workers]
    return pd.DataFrame(rows, columns=CONSUMER_COLUMNS)


def rebalances_frame(workers: Iterable[tuple[str, BatchWorker]]) -> pd.DataFrame:
    """service, client_id, at (time), kind (assigned / revoked / lost), partitions — one row per change of a
    consumer thread's assignment, oldest first: which partitions moved when a member joined or left."""
    rows = [
        (service, w.client_id, pd.Timestamp(r.at, unit="s"), r.kind, list(r.partitions))
        for service, w in workers
        for r in w.rebalances
    ]
    return pd.DataFrame(rows, columns=REBALANCE_COLUMNS).sort_values("at", ignore_index=True)


class LabTables:
    """The Lab's read-only views: what the cluster, Redis and its consumer threads hold, as DataFrames."""

    settings: Settings
    _threads: ConsumerThreads

    @property
    def runtime(self) -> Runtime:
        raise NotImplementedError  # the Lab's clients

    @property
    def admin(self) -> Admin:
        return self.runtime.admin

    @property
    def redis(self) -> redis.Redis:
        return self.runtime.redis

    @property
    def inventory(self) -> SeatInventory:
        return self.runtime.inventory

    @property
    def store(self) -> BookingStore:
        return self.runtime.store

    def _event_id(self, event_id: int | None) -> int:
        """The event a call is about: the argument, else the settings' EVENT_ID; checked either way."""
        return parse_event_id(self.settings.event_id if event_id is None else event_id)

    def events(self) -> pd.DataFrame:
        """Every event on the cluster and in Redis (what `labkit events list` prints)."""
        return events_frame(self.admin, self.redis)

    def consumers(self) -> pd.DataFrame:
        """One row per consumer thread: service, client id, alive, messages processed, partitions assigned."""
        return consumers_frame(self._threads.workers())

    def rebalances(self) -> pd.DataFrame:
        """One row per change of a thread's assignment (assigned / revoked / lost), oldest first."""
        return rebalances_frame(self._threads.workers())

    def group_members(self, event_id: int | None = None) -> dict[str, int]:
        """Members of each of the event's groups (threads here and processes anywhere), ticketing's first."""
        return group_member_counts(self.admin, self._event_id(event_id))

    def groups(self, event_id: int | None = None) -> pd.DataFrame:
        return groups_frame(self.admin, self._event_id(event_id))

    def partitions(self, event_id: int | None = None) -> pd.DataFrame:
        event_id = self._event_id(event_id)
        return partitions_frame(self.admin, event_topics(event_id, self.inventory.seating(event_id)))

    def reservation_lag(self, event_id: int | None = None) -> pd.DataFrame:
        """Lag, owner and seats left per reserve-seats partition: what the partition panel draws."""
        return lag_frame(self._partition_cells(self._event_id(event_id)))

    def partition_panel(self, event_id: int | None = None) -> HTML:
        """reservation_lag() as a grid of sections by subsections; the dashboard shows it live."""
        event_id = self._event_id(event_id)
        return HTML(partition_panel_html(self.inventory.require_seating(event_id), self._partition_cells(event_id)))

    def _partition_cells(self, event_id: int) -> list[PartitionCell]:
        return read_partition_cells(self.admin, self.redis, event_id, self.inventory.require_seating(event_id))

    def bookings(self, event_id: int | None = None) -> pd.DataFrame:
        return bookings_frame(self.store, self._event_id(event_id))

    def seat_map(
        self, event_id: int | None = None, section: str | None = None, subsection: int | None = None
    ) -> pd.DataFrame:
        return seat_map_frame(self.inventory, self._event_id(event_id), section, subsection)

    def stats(self, event_id: int | None = None) -> dict[str, Any]:
        """Ticketing counters (sent, RESERVED, FAILED, failed:<reason>), seat counters and the event's topics."""
        event_id = self._event_id(event_id)
        topics = list(event_topics(event_id, self.inventory.seating(event_id)))
        return {"ticketing": self.store.stats(event_id), "seats": self.inventory.counters(event_id), "topics": topics}
