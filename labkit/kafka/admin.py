"""Topics, consumer groups and lag: what kafka-topics and kafka-consumer-groups show, as data."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec, TopicMetadata

from labkit.errors import ClusterError, TopicLayoutError
from labkit.kafka.clients import Admin
from labkit.polling import poll

METADATA_LAG = 5.0  # how long a broker may lag behind the controller's latest topic changes
# How long librdkafka itself keeps a request to a group's coordinator (describe, offsets, delete) before timing
# it out: far longer than anyone waits for it. A group request that timed out inside librdkafka while it still
# waited for its coordinator (a broker killed, or restarted and still loading the group) left its coordinator
# lookup behind, and the next change of a broker's state ran that lookup on freed memory: the process aborted on
# librdkafka's assertion `eonce->refcnt > 0` in rd_kafka_enq_once_del_source_return (confluentinc/librdkafka#4605;
# notebook 06 run twice in one kernel, where the second run's broker kill found the first run's lookups). Left to
# finish, the request completes once the coordinator serves, and no one is left waiting for its answer.
COORDINATOR_REQUEST_TIMEOUT = 600.0


def broker_count(admin: Admin) -> int:
    return len(broker_ids(admin))


def broker_ids(admin: Admin) -> set[int]:
    """The brokers in the cluster's metadata: the live ones (a dead broker drops out once it is fenced)."""
    return set(admin.metadata().brokers)


def ensure_topics(admin: Admin, wanted: dict[str, int], replication: int) -> dict[str, str]:
    """Create the topics in `wanted` (name → partitions) that do not exist; check those that do.

    Returns name → "created" | "exists". A topic that exists with another partition count raises
    TopicLayoutError: the subsection → partition map would silently be wrong. So does one with fewer replicas
    than `replication`: created while brokers were down, it would stay less safe than the rest for good.
    """
    existing = admin.metadata().topics
    _check_partitions({name: len(existing[name].partitions) for name in wanted if name in existing}, wanted)
    _check_replication({name: _replication(existing[name]) for name in wanted if name in existing}, replication)
    missing = [NewTopic(name, partitions, replication) for name, partitions in wanted.items() if name not in existing]
    outcome = {name: "exists" for name in wanted if name in existing}
    created = admin.client.create_topics(missing, operation_timeout=admin.timeout) if missing else {}
    for name, future in created.items():
        try:
            admin.result(future, f"creating topic {name}")
            outcome[name] = "created"
        except ClusterError as exc:
            if not failed_with(exc, KafkaError.TOPIC_ALREADY_EXISTS):  # a concurrent creator is fine
                raise
            outcome[name] = "exists"
    wait_for_leaders(admin, wanted)
    return outcome


def _check_partitions(actual: dict[str, int], wanted: dict[str, int]) -> None:
    wrong = {name: count for name, count in actual.items() if count != wanted[name]}
    if wrong:
        details = "; ".join(f"{name} has {count}, needs {wanted[name]}" for name, count in wrong.items())
        raise TopicLayoutError(
            f"existing topic(s) with the wrong partition count: {details}. "
            "Delete them (`labkit topics reset --keep NONE`) or use another event id"
        )


def under_replicated(admin: Admin) -> dict[str, int]:
    """Topic → how many of its partitions have fewer in-sync replicas than replicas (a broker down or behind)."""
    counts = {
        name: sum(len(p.isrs) < len(p.replicas) for p in topic.partitions.values())
        for name, topic in admin.metadata().topics.items()
    }
    return {name: count for name, count in counts.items() if count}


def _replication(topic: TopicMetadata) -> int:
    return min((len(p.replicas) for p in topic.partitions.values()), default=0)


def _check_replication(actual: dict[str, int], wanted: int) -> None:
    low = {name: count for name, count in actual.items() if count < wanted}
    if low:
        details = "; ".join(f"{name} has {count}" for name, count in low.items())
        raise TopicLayoutError(
            f"existing topic(s) with fewer replicas than this cluster's {wanted}: {details}. "
            "Delete them (`labkit topics reset --keep NONE`) or use another event id"
        )


def wait_for_leaders(admin: Admin, wanted: dict[str, int], timeout: float | None = None) -> None:
    """Wait until every partition of every topic in `wanted` has a leader — as every broker sees it — so that
    producers and consumers can start at once.

    A new topic reaches each broker's metadata a moment apart, and each listing may be answered by another
    broker: a consumer that subscribed right after the creator's broker knew the topic was told
    UNKNOWN_TOPIC_OR_PART by another. So: twice as many ready listings in a row as there are brokers.
    """
    timeout = admin.timeout if timeout is None else timeout
    deadline = time.monotonic() + timeout
    ready_in_a_row = 0
    while True:
        metadata = admin.metadata()
        topics = metadata.topics
        ready = all(
            name in topics and topics[name].partitions and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name in wanted
        )
        if ready:
            _check_partitions({name: len(topics[name].partitions) for name in wanted}, wanted)
            ready_in_a_row += 1
            if ready_in_a_row >= 2 * len(metadata.brokers):
                return
            continue
        ready_in_a_row = 0
        if time.monotonic() >= deadline:
            raise ClusterError(f"topics {sorted(wanted)} have no leader for every partition after {timeout:.0f} s")
        time.sleep(0.2)


@dataclass(frozen=True)
class PartitionInfo:
    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def describe_partitions(admin: Admin, topics: list[str] | None = None) -> list[PartitionInfo]:
    """Leader, replicas and in-sync replicas of every partition (all non-internal topics by default)."""
    listing: list[tuple[dict[str, Any], list[str]]] = []

    def all_listed() -> bool:
        metadata = admin.metadata().topics
        names = sorted(name for name in metadata if not name.startswith("__")) if topics is None else topics
        listing[:] = [(metadata, names)]
        return all(name in metadata for name in names)

    # a broker other than the creator's may learn of new topics a moment later
    listed = poll(all_listed, METADATA_LAG, interval=0.2)
    metadata, names = listing[0]
    if not listed:
        raise ClusterError(f"no such topic(s): {[name for name in names if name not in metadata]}")
    return [
        PartitionInfo(name, p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
        for name in names
        for p in sorted(metadata[name].partitions.values(), key=lambda p: p.id)
    ]


def list_topics(admin: Admin, include_internal: bool = False) -> dict[str, int]:
    """Topic name → partition count, sorted by name."""
    metadata = admin.metadata().topics
    return {
        name: len(metadata[name].partitions)
        for name in sorted(metadata)
        if include_internal or not name.startswith("__")
    }


def list_groups(admin: Admin) -> dict[str, str]:
    """Consumer group id → state (Stable, Empty, …)."""
    return {group_id: state for group_id, (_, state) in list_groups_with_protocol(admin).items()}


def list_groups_with_protocol(admin: Admin) -> dict[str, tuple[str, str]]:
    """Consumer group id → (protocol, state): protocol 'consumer' (KIP-848) or 'classic'."""
    listing = admin.request(
        lambda a: _Complete(a.list_consumer_groups(request_timeout=admin.timeout)), "listing consumer groups"
    )
    return {
        g.group_id: (_protocol_name(g.type), _state_name(g.state))
        for g in sorted(listing.valid, key=lambda g: g.group_id)
    }


def _protocol_name(group_type: Any) -> str:
    """ConsumerGroupType.CONSUMER / CLASSIC → 'consumer' / 'classic' (what group.protocol is set to)."""
    return str(getattr(group_type, "name", group_type)).lower()


def _state_name(state: Any) -> str:
    name = getattr(state, "name", str(state))
    return {"STABLE": "Stable", "EMPTY": "Empty", "DEAD": "Dead", "UNKNOWN": "Unknown"}.get(name, name.title())


@dataclass(frozen=True)
class MemberInfo:
    member_id: str
    client_id: str
    host: str
    partitions: tuple[tuple[str, int], ...]
    # KIP-848: what the coordinator wants the member to own; differs from `partitions` while it reconciles
    target: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int
    member_id: str | None

    @property
    def lag(self) -> int:
        """Messages not yet committed; a partition never committed counts from its start (offset 0)."""
        return self.end - (self.committed or 0)


@dataclass(frozen=True)
class GroupDescription:
    group_id: str
    state: str
    members: list[MemberInfo]
    partitions: list[PartitionLag]
    protocol: str = "unknown"  # 'consumer' (KIP-848) or 'classic'
    assignor: str = ""  # the server-side assignor (consumer) or the members' agreed strategy (classic)

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def reconciliation(self) -> str:
        """Each member's partitions against its target (KIP-848): who still has to give up or take what, the
        answer to "why does this group not settle"."""
        lines = []
        for m in self.members:
            owned, target = set(m.partitions), set(m.target if m.target is not None else m.partitions)
            lines.append(
                f"{m.client_id}: owns {len(owned)}, target {len(target)}"
                + (f", to give up {sorted(p for _, p in owned - target)}" if owned - target else "")
                + (f", to take {sorted(p for _, p in target - owned)}" if target - owned else "")
            )
        return f"{self.state}, {len(self.members)} member(s): " + "; ".join(lines)


def _partitions(assignment: Any) -> tuple[tuple[str, int], ...] | None:
    """A member's (target) assignment as sorted (topic, partition) pairs; None if the group does not report it."""
    if assignment is None:
        return None
    return tuple(sorted((tp.topic, tp.partition) for tp in assignment.topic_partitions))


def describe_group(admin: Admin, group_id: str) -> GroupDescription:
    """Members and their assignment, and per partition: committed offset, end offset, lag."""
    described = admin.request(_describe_request(group_id), f"describing {group_id}")
    members = [
        MemberInfo(
            m.member_id,
            m.client_id,
            m.host,
            _partitions(m.assignment) or (),
            _partitions(getattr(m, "target_assignment", None)),
        )
        for m in sorted(described.members, key=lambda m: m.client_id)
    ]
    owner = {tp: m.member_id for m in members for tp in m.partitions}
    request = [ConsumerGroupTopicPartitions(group_id)]
    offsets = admin.request(
        lambda a: a.list_consumer_group_offsets(request, request_timeout=COORDINATOR_REQUEST_TIMEOUT)[group_id],
        "listing offsets",
    )
    committed = {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None) for tp in offsets.topic_partitions}
    keys = sorted(set(committed) | set(owner))
    ends = end_offsets(admin, keys)
    return GroupDescription(
        group_id=group_id,
        state=_state_name(described.state),
        members=members,
        partitions=[PartitionLag(t, p, committed.get((t, p)), ends[(t, p)], owner.get((t, p))) for t, p in keys],
        protocol=_protocol_name(described.type),
        assignor=described.partition_assignor or "",
    )


def end_offsets(admin: Admin, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The log-end offset (next offset to be written) of each partition."""
    if not partitions:
        return {}
    request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions}

    def all_offsets(a: AdminClient) -> Any:
        # one future per partition; gathered into one so that a moving leader retries the whole request
        futures = a.list_offsets(request, request_timeout=admin.timeout)
        return _Gathered({(tp.topic, tp.partition): f for tp, f in futures.items()})

    return admin.request(all_offsets, "listing end offsets")


class _Complete:
    """A ListConsumerGroups future that fails unless every broker answered: its result holds the groups of the
    brokers that did and an error per broker that did not (seen: _TIMED_OUT from a restarted broker), and a
    listing without one broker's groups would call a busy group absent."""

    def __init__(self, future: Any) -> None:
        self.future = future

    def result(self, timeout: float) -> Any:
        listing = self.future.result(timeout=timeout)
        if listing.errors:
            error = listing.errors[0]
            raise error if isinstance(error, KafkaException) else KafkaException(error)
        return listing


class _Gathered:
    """Looks like one future whose result is {key: offset} of many ListOffsets futures."""

    def __init__(self, futures: dict[tuple[str, int], Any]) -> None:
        self.futures = futures

    def result(self, timeout: float) -> dict[tuple[str, int], int]:
        return {key: f.result(timeout=timeout).offset for key, f in self.futures.items()}


@dataclass(frozen=True)
class ResetPlan:
    """What `topics reset` deletes, keeps, and refuses to delete (groups that still have members)."""

    delete_topics: list[str]
    delete_groups: list[str]
    busy_groups: dict[str, int]
    kept: list[str]


def plan_reset(admin: Admin, keep: str) -> ResetPlan:
    """Every topic and group whose name does not match the glob `keep`; internal topics are never touched."""
    topics = list_topics(admin)
    groups = list_groups(admin)
    doomed_groups = [g for g in groups if not fnmatch.fnmatchcase(g, keep)]
    busy: dict[str, int] = {}
    for group_id in doomed_groups:
        described = admin.request(_describe_request(group_id), f"describing {group_id}")
        if described.members:
            busy[group_id] = len(described.members)
    return ResetPlan(
        delete_topics=[t for t in topics if not fnmatch.fnmatchcase(t, keep)],
        delete_groups=[g for g in doomed_groups if g not in busy],
        busy_groups=busy,
        kept=[name for name in [*topics, *groups] if fnmatch.fnmatchcase(name, keep)],
    )


def apply_reset(admin: Admin, plan: ResetPlan) -> None:
    """Delete what the plan says; groups first, so no group is left pointing at deleted topics."""
    for group_id in plan.delete_groups:
        _delete_group(admin, group_id)
    if plan.delete_topics:
        for name, future in admin.client.delete_topics(plan.delete_topics, operation_timeout=admin.timeout).items():
            try:
                admin.result(future, f"deleting topic {name}")
            except ClusterError as exc:
                if not failed_with(exc, KafkaError.UNKNOWN_TOPIC_OR_PART):  # deleted meanwhile: as asked
                    raise
        _wait_until_unlisted(admin, set(plan.delete_topics))


def failed_with(error: ClusterError, code: int) -> bool:
    """Whether the Kafka error behind `error` has this code."""
    cause = error.__cause__
    return isinstance(cause, KafkaException) and cause.args[0].code() == code


def _describe_request(group_id: str) -> Callable[[AdminClient], Any]:
    """One group's describe request, for `Admin.request` (which may send it through a fresh client)."""
    return lambda admin: admin.describe_consumer_groups([group_id], request_timeout=COORDINATOR_REQUEST_TIMEOUT)[
        group_id
    ]


def _delete_group(admin: Admin, group_id: str) -> None:
    """Delete one group, again while its coordinator moves: right after a broker restart the coordinator
    of a group may still be changing hands, and the first answer is NOT_COORDINATOR (notebook 06 in CI)."""

    def delete(a: AdminClient) -> Any:
        return a.delete_consumer_groups([group_id], request_timeout=COORDINATOR_REQUEST_TIMEOUT)[group_id]

    try:
        admin.request(delete, f"deleting group {group_id}")
    except ClusterError as exc:
        if not failed_with(exc, KafkaError.GROUP_ID_NOT_FOUND):  # a retry after a delete that landed: as asked
            raise


def _wait_until_unlisted(admin: Admin, doomed: set[str]) -> None:
    """Deletion reaches each broker's metadata a moment apart, and each metadata request may go to another
    broker: wait until twice as many listings in a row as there are brokers no longer show the topics."""
    deadline = time.monotonic() + admin.timeout
    clean_in_a_row = 0
    while clean_in_a_row < 2 * broker_count(admin):
        listed = doomed & set(admin.metadata().topics)
        clean_in_a_row = 0 if listed else clean_in_a_row + 1
        if listed and time.monotonic() >= deadline:
            raise ClusterError(f"topics still listed {admin.timeout:.0f} s after their deletion: {sorted(listed)}")
        time.sleep(0.2)
