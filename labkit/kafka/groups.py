"""Consumer groups as the brokers see them: listed, described with each member's partitions and lag,
deleted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from labkit.errors import ClusterError
from labkit.kafka.admin import Admin, failed_with
from labkit.kafka.topics import end_offsets

# How long librdkafka itself keeps a request to a group's coordinator (describe, offsets, delete) before timing
# it out: far longer than anyone waits for it. A group request that timed out inside librdkafka while it still
# waited for its coordinator (a broker killed, or restarted and still loading the group) left its coordinator
# lookup behind, and the next change of a broker's state ran that lookup on freed memory: the process aborted on
# librdkafka's assertion `eonce->refcnt > 0` in rd_kafka_enq_once_del_source_return (confluentinc/librdkafka#4605;
# notebook 07 run twice in one kernel, where the second run's broker kill found the first run's lookups). Left to
# finish, the request completes once the coordinator serves, and no one is left waiting for its answer.
COORDINATOR_REQUEST_TIMEOUT = 600.0


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
    described = admin.request(describe_request(group_id), f"describing {group_id}")
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


def describe_request(group_id: str) -> Callable[[AdminClient], Any]:
    """One group's describe request, for `Admin.request` (which may send it through a fresh client)."""
    return lambda admin: admin.describe_consumer_groups([group_id], request_timeout=COORDINATOR_REQUEST_TIMEOUT)[
        group_id
    ]


def delete_group(admin: Admin, group_id: str) -> None:
    """Delete one group, again while its coordinator moves: right after a broker restart the coordinator
    of a group may still be changing hands, and the first answer is NOT_COORDINATOR (notebook 07 in CI)."""

    def delete(a: AdminClient) -> Any:
        return a.delete_consumer_groups([group_id], request_timeout=COORDINATOR_REQUEST_TIMEOUT)[group_id]

    try:
        admin.request(delete, f"deleting group {group_id}")
    except ClusterError as exc:
        if not failed_with(exc, KafkaError.GROUP_ID_NOT_FOUND):  # a retry after a delete that landed: as asked
            raise
