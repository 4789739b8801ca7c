"""Any cluster described from what it answers — brokers and racks, partitions and their health, and the broker
settings the lab depends on beside the embedded cluster's values: `labkit cluster status` for a cluster labkit
did not start, and what the notebooks check before they run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.broker import BrokerSpec, broker_properties
from labkit.kafka.admin import Admin, broker_configs

# The broker settings labkit's experiments depend on, and what depends on each.
LAB_SETTINGS: dict[str, str] = {
    "min.insync.replicas": "what acks=all waits for; a write refused below it (06)",
    "default.replication.factor": "copies of a topic created without a replication factor",
    "offsets.topic.replication.factor": "the consumer groups' offsets topic",
    "transaction.state.log.replication.factor": "transactions (09): the coordinator's log",
    "transaction.state.log.min.isr": "transactions (09)",
    "group.coordinator.rebalance.protocols": "KIP-848 ('consumer') and classic groups (04)",
    "group.consumer.session.timeout.ms": "how soon a dead member's partitions move, KIP-848 (04, 07, 11)",
    "group.consumer.heartbeat.interval.ms": "how fast an assignment travels, KIP-848 (04, 11)",
    "group.min.session.timeout.ms": "the shortest session a classic member may ask for",
    "group.initial.rebalance.delay.ms": "a new classic group's first assignment (04)",
    "log.retention.check.interval.ms": "how often retention deletes old segments (08)",
    "log.cleaner.backoff.ms": "how soon an idle log cleaner compacts (10)",
    "auto.create.topics.enable": "whether a typo in a topic name creates a topic",
}


@dataclass(frozen=True)
class BrokerInfo:
    node_id: int
    address: str
    rack: str | None


@dataclass(frozen=True)
class ClusterDescription:
    cluster_id: str | None
    brokers: list[BrokerInfo]
    topics: int
    partitions: int
    under_replicated: int  # partitions with fewer in-sync replicas than replicas
    offline: int  # partitions without a leader
    settings: dict[str, str]  # LAB_SETTINGS as one broker reports them (one it does not report is missing)
    settings_from: int | None  # that broker's id


def describe_cluster(admin: Admin) -> ClusterDescription:
    """Metadata, DescribeCluster (racks) and one broker's configs: three requests."""
    described = admin.request(lambda client: client.describe_cluster(), "describing the cluster")
    brokers = sorted(
        (BrokerInfo(n.id, f"{n.host}:{n.port}", n.rack or None) for n in described.nodes), key=lambda b: b.node_id
    )
    metadata = admin.metadata()
    topics = [t for name, t in metadata.topics.items() if not name.startswith("__")]
    partitions = [p for t in topics for p in t.partitions.values()]  # internal topics apart, in every count
    first = brokers[0].node_id if brokers else None
    return ClusterDescription(
        cluster_id=described.cluster_id,
        brokers=brokers,
        topics=len(topics),
        partitions=sum(len(t.partitions) for t in topics),
        under_replicated=sum(len(p.isrs) < len(p.replicas) for p in partitions),
        offline=sum(p.leader < 0 for p in partitions),
        settings=broker_settings(admin, first) if first is not None else {},
        settings_from=first,
    )


def broker_settings(admin: Admin, node_id: int, names: tuple[str, ...] = tuple(LAB_SETTINGS)) -> dict[str, str]:
    """The values of `names` broker `node_id` runs with (its own, the cluster's dynamic default, Kafka's default)."""
    configs = broker_configs(admin, node_id)
    return {name: configs[name] for name in names if name in configs}


def embedded_settings(brokers: int = 3) -> dict[str, str]:
    """What labkit's own cluster of `brokers` nodes sets (or leaves at Kafka's default: absent)."""
    voters = [BrokerSpec(i, 0, 0, Path("/")) for i in range(1, brokers + 1)]
    return broker_properties(voters[0], voters)
