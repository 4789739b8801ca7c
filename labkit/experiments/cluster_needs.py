"""What a notebook needs of the cluster, stated at its top and checked before anything runs.

On labkit's own cluster everything a notebook needs holds. On a cluster labkit did not start, a notebook that
kills or pauses brokers refuses at once (it cannot reach them), one that needs more brokers or a feature the
cluster lacks refuses naming it, and one whose experiment waits on a broker's interval (the retention check, the
log cleaner's back-off) reads the interval from the cluster and waits for it — saying how long.

    needs = lab.require(brokers=3, waits_for=("log.retention.check.interval.ms",))
    needs.seconds("log.retention.check.interval.ms")   # this cluster's interval, in seconds
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labkit.cluster.described import broker_settings, embedded_settings
from labkit.errors import StateError
from labkit.kafka.admin import Admin
from labkit.kafka.topics import broker_ids

# broker settings in milliseconds whose value is how long an experiment waits, and what waits on them
INTERVALS = {
    "log.retention.check.interval.ms": "retention deletes old segments at each check",
    "log.cleaner.backoff.ms": "an idle log cleaner looks for work this often",
    "group.consumer.session.timeout.ms": "a consumer that dies leaves its group after this long (KIP-848)",
    "group.consumer.heartbeat.interval.ms": "an assignment change travels in heartbeats this far apart (KIP-848)",
    "group.min.session.timeout.ms": "the shortest session a classic-protocol consumer may ask for: one that dies "
    "keeps its partitions this long",
    "group.initial.rebalance.delay.ms": "a new classic group waits this long for more members before it assigns",
    "group.share.heartbeat.interval.ms": "a share consumer gets its assignment in a heartbeat, this far apart",
    "group.share.session.timeout.ms": "a share consumer that stops heartbeating leaves its group after this long",
    "group.share.min.record.lock.duration.ms": "the shortest record lock a share group may set: a hung consumer's "
    "records come back after it",
}
SHARE_SETTINGS = ("group.share.delivery.count.limit", "share.coordinator.state.topic.replication.factor")
OWN_CLUSTER_HINT = "unset KAFKA_BOOTSTRAP_SERVERS (and KAFKA_CLIENT_CONFIG) to run it on labkit's own cluster"


@dataclass(frozen=True)
class ClusterNeeds:
    """What was checked, and the cluster's values of the settings asked about."""

    brokers: int
    settings: dict[str, str]
    lines: tuple[str, ...]

    def seconds(self, name: str) -> float:
        """A millisecond setting of INTERVALS, in seconds."""
        return int(self.settings[name]) / 1000

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _share_groups(settings: dict[str, str], alive: int) -> str:
    """The line on share groups; StateError if their state topic takes more replicas than there are brokers."""
    replication = int(settings["share.coordinator.state.topic.replication.factor"])
    if replication > alive:
        raise StateError(
            f"share groups need {replication} brokers for their state topic "
            f"(share.coordinator.state.topic.replication.factor) and the cluster has {alive}"
        )
    limit = settings["group.share.delivery.count.limit"]
    return f"share groups: a record is archived after {limit} deliveries (group.share.delivery.count.limit)"


def require(
    admin: Admin,
    external: bool,
    *,
    own_cluster: str | None = None,
    brokers: int = 1,
    group_protocols: Sequence[str] = (),
    transactions: bool = False,
    share_groups: bool = False,
    waits_for: Sequence[str] = (),
) -> ClusterNeeds:
    """Check the cluster against a notebook's needs; StateError naming the first unmet one.

    `own_cluster`: why the notebook must run on labkit's own cluster (it kills or pauses brokers); `brokers`: how
    many it needs alive; `group_protocols`: 'consumer' (KIP-848) and/or 'classic'; `transactions`: whether it
    uses them (their log's replication must fit the brokers); `share_groups`: whether it uses them (KIP-932:
    the delivery count limit is read); `waits_for`: INTERVALS it waits on."""
    unknown = [name for name in waits_for if name not in INTERVALS]
    if unknown:
        raise StateError(f"waits_for takes {', '.join(INTERVALS)}, got {unknown}")
    if own_cluster is not None and external:
        raise StateError(f"this notebook {own_cluster}: it runs only on labkit's own cluster; {OWN_CLUSTER_HINT}")
    alive = len(broker_ids(admin))
    lines = [f"brokers: {brokers} needed, {alive} in this cluster"]
    if alive < brokers:
        raise StateError(f"this notebook needs {brokers} brokers and the cluster has {alive}")
    names = (
        "group.coordinator.rebalance.protocols",
        "transaction.state.log.replication.factor",
        *(SHARE_SETTINGS if share_groups else ()),
        *waits_for,
    )
    settings = broker_settings(admin, min(broker_ids(admin)), tuple(dict.fromkeys(names)))
    unknown_here = [name for name in (*waits_for, *(SHARE_SETTINGS if share_groups else ())) if name not in settings]
    if unknown_here:
        raise StateError(f"this notebook needs a cluster with {', '.join(unknown_here)} (Kafka 4.2 or later)")
    offered = settings.get("group.coordinator.rebalance.protocols", "classic").split(",")
    missing = [p for p in group_protocols if p not in offered]
    if missing:
        raise StateError(
            f"this notebook uses the {' and '.join(missing)} group protocol(s); the cluster offers {offered} "
            "(group.coordinator.rebalance.protocols)"
        )
    if group_protocols:
        lines.append(f"group protocols: {', '.join(group_protocols)} needed, the cluster offers {', '.join(offered)}")
    if transactions:
        replication = int(settings["transaction.state.log.replication.factor"])
        if replication > alive:
            raise StateError(
                f"transactions need {replication} brokers for their log (transaction.state.log.replication.factor) "
                f"and the cluster has {alive}"
            )
        lines.append(f"transactions: their log takes {replication} replicas, the cluster has {alive} brokers")
    if share_groups:
        lines.append(_share_groups(settings, alive))
    ours = embedded_settings()
    for name in waits_for:
        value = int(settings[name])
        lines.append(f"{name} = {value:,} ms: {INTERVALS[name]} (labkit's own cluster: {int(ours[name]):,} ms)")
    return ClusterNeeds(alive, settings, tuple(lines))
