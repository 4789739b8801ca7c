"""Topics and their partitions on the cluster: created to a layout, described, listed, their end offsets."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec, TopicMetadata

from labkit.errors import ClusterError, TopicLayoutError, WaitTimeout
from labkit.kafka.admin import Admin, failed_with
from labkit.polling import poll

METADATA_LAG = 5.0  # how long a broker may lag behind the controller's latest topic changes


def broker_count(admin: Admin) -> int:
    return len(broker_ids(admin))


def broker_ids(admin: Admin) -> set[int]:
    """The brokers in the cluster's metadata: the live ones (a dead broker drops out once it is fenced)."""
    return set(admin.metadata().brokers)


def ensure_topics(
    admin: Admin, wanted: dict[str, int], replication: int, config: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Create the topics in `wanted` (name → partitions) that do not exist, with topic-level `config`; check
    those that do.

    Returns name → "created" | "exists". A topic that exists with another partition count raises
    TopicLayoutError: the subsection → partition map would silently be wrong. So does one with fewer replicas
    than `replication`: created while brokers were down, it would stay less safe than the rest for good.
    """
    existing = admin.metadata().topics
    _check_partitions({name: len(existing[name].partitions) for name in wanted if name in existing}, wanted)
    _check_replication({name: _replication(existing[name]) for name in wanted if name in existing}, replication)
    missing = [
        NewTopic(name, partitions, replication, config=dict(config or {}))
        for name, partitions in wanted.items()
        if name not in existing
    ]
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
            raise WaitTimeout(f"topics {sorted(wanted)} have no leader for every partition after {timeout:.0f} s")
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


class _Gathered:
    """Looks like one future whose result is {key: offset} of many ListOffsets futures."""

    def __init__(self, futures: dict[tuple[str, int], Any]) -> None:
        self.futures = futures

    def result(self, timeout: float) -> dict[tuple[str, int], int]:
        return {key: f.result(timeout=timeout).offset for key, f in self.futures.items()}
