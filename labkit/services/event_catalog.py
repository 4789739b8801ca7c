"""An event as a unit: its topics, its two consumer groups and its Redis keys, listed and deleted together.

Every event of the default venue costs the cluster 301 partitions (times 3 replicas), and idle partitions are not
free: every fetch round of every follower and consumer walks the partitions of its fetch session (`make bench`
measures one booking at a time with and without 10 idle events; docs/cluster.md has the figures). Hence a budget,
and a way to delete what an experiment created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from labkit.domain.naming import KafkaConsumerGroupBuilder
from labkit.errors import EventBusyError
from labkit.kafka.admin import Admin
from labkit.kafka.cleanup import ResetPlan, apply_reset
from labkit.kafka.groups import describe_group, list_groups
from labkit.kafka.topics import list_topics
from labkit.polling import poll
from labkit.store import keyspace

# Partitions (leaders, before replication) past which this machine's brokers slow down noticeably.
PARTITION_BUDGET = 1_000
CLEANUP_HINT = "labkit events list; labkit events delete N"

# an event's topics, and those a stream processor (quixstreams) made for one of its groups: `changelog__<group>--…`,
# `repartition__<group>--…`
_TOPIC_EVENT = re.compile(r"^(?:event-id-(\d+)______|(?:changelog|repartition)__event-id-(\d+)_____[a-z])")
_GROUP_EVENT = re.compile(r"^event-id-(\d+)_____[a-z]")
_REDIS_EVENT = re.compile(rb"^labkit:event:(\d+):seating$")


@dataclass(frozen=True)
class EventInfo:
    """What one event holds on the cluster and in Redis."""

    event_id: int
    topics: int
    partitions: int
    groups: int
    has_seats: bool


@dataclass(frozen=True)
class EventDeletion:
    event_id: int
    topics: list[str]
    groups: list[str]
    redis_keys: int


def list_events(admin: Admin, client: redis.Redis) -> list[EventInfo]:
    """Every event that has a topic, a group or a venue in Redis, by id."""
    topics: dict[int, list[int]] = {}
    for name, partitions in list_topics(admin).items():
        event_id = _topic_event(name)
        if event_id is not None:
            topics.setdefault(event_id, []).append(partitions)
    groups: dict[int, int] = {}
    for name in list_groups(admin):
        match = _GROUP_EVENT.match(name)
        if match:
            groups[int(match.group(1))] = groups.get(int(match.group(1)), 0) + 1
    venues = client.scan_iter(match="labkit:event:*:seating")
    seated = {int(m.group(1)) for key in venues if (m := _REDIS_EVENT.match(key))}
    return [
        EventInfo(e, len(topics.get(e, [])), sum(topics.get(e, [])), groups.get(e, 0), e in seated)
        for e in sorted(set(topics) | set(groups) | seated)
    ]


def group_member_counts(admin: Admin, event_id: int) -> dict[str, int]:
    """Members of each of the event's consumer groups (threads and processes anywhere), ticketing's first."""
    groups = KafkaConsumerGroupBuilder.get_all_groups(event_id)
    return {group: len(describe_group(admin, group).members) for group in groups}


def partition_count(admin: Admin) -> int:
    """Partitions of every topic but the internal ones (leaders; each has `replication` replicas)."""
    return sum(list_topics(admin).values())


def event_topic_names(topics: Iterable[str], event_id: int) -> list[str]:
    """The event's topics among `topics`: its builders' four, any other named `event-id-<N>______…` (a topic a
    learner created for the event), and the changelog and repartition topics a stream processor made for one of its
    groups (notebook 15), so that deleting an event deletes every topic `labkit events list` counts."""
    return sorted(t for t in topics if _topic_event(t) == event_id)


def _topic_event(topic: str) -> int | None:
    """The event a topic belongs to: by its name, or by the name of the group a stream processor made it for."""
    match = _TOPIC_EVENT.match(topic)
    return None if match is None else int(match.group(1) or match.group(2))


def event_group_names(groups: Iterable[str], event_id: int) -> set[str]:
    """The event's groups among `groups`: its services' two and any other named `event-id-<N>_____…` (a group an
    experiment read the event's topics in), so that deleting an event deletes every group `labkit events list`
    counts."""
    return {g for g in groups if (m := _GROUP_EVENT.match(g)) and int(m.group(1)) == event_id}


def delete_event(
    admin: Admin, client: redis.Redis, event_id: int, wait_for_members: float = 0.0, wait_unlisted: bool = True
) -> EventDeletion:
    """Delete the event's groups, topics and Redis keys. Refuses (EventBusyError, nothing deleted) while a group
    still has members after `wait_for_members` s — a crashed member stays until its session times out.
    `wait_unlisted`: return once no broker lists its topics (else at once: a test's clean-up, whose ids are new)."""
    states: dict[str, str] = {}

    def idle() -> bool:
        # States from listing (every broker answers), not describing: describing a group whose coordinator
        # just moved (a broker restarted) can go unanswered for 30 s.
        listed = list_groups(admin)
        groups = event_group_names(listed, event_id)  # the services' two and any an experiment made
        states.clear()
        states.update({g: state for g, state in listed.items() if g in groups})
        return all(state in ("Empty", "Dead") for state in states.values())

    if not poll(idle, wait_for_members, interval=0.5):
        busy = {g: state for g, state in states.items() if state not in ("Empty", "Dead")}
        described = ", ".join(f"{g} ({state})" for g, state in busy.items())
        raise EventBusyError(f"event {event_id} still has consumers: {described}; stop its consumers first")
    present_groups = list(states)
    present_topics = event_topic_names(list_topics(admin), event_id)
    apply_reset(admin, ResetPlan(present_topics, present_groups, busy_groups={}, kept=[]), wait=wait_unlisted)
    removed = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{keyspace.event_prefix(event_id)}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            removed += client.unlink(*batch)
            batch.clear()
    if batch:
        removed += client.unlink(*batch)
    return EventDeletion(event_id, present_topics, present_groups, removed)
