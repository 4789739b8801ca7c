"""Notebook 12's cluster and its views: three brokers in network namespaces of their own (so that links between
them can be cut), started beside whatever cluster the learner runs, and what the majority and each node see.

The cluster lives in `<home>/partitions`, its Redis on port 6389; its brokers listen on addresses of their own
(10.213.x.n), so their ports never collide with the learner's cluster on 127.0.0.1. `stop_partition_lab` stops
it and wipes its data: no process, namespace or data of it outlives the notebook (its logs stay, under
`<home>/partitions/logs`).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, replace
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from labkit.cluster.local import LocalCluster
from labkit.cluster.network import NAMESPACES
from labkit.cluster.state import DEFAULT_KAFKA_PORT
from labkit.errors import ClusterError
from labkit.experiments.cluster_panel import quorum_view
from labkit.kafka.clients import connection_config
from labkit.lab import Lab
from labkit.settings import Settings

PARTITION_REDIS_PORT = 6389
# librdkafka's complaints about brokers cut off, which the experiments make on purpose: not shown
_QUIET = logging.getLogger("labkit.partition_lab.librdkafka")
_QUIET.setLevel(logging.CRITICAL)
_QUIET.addHandler(logging.NullHandler())


def partition_lab(settings: Settings, brokers: int = 3) -> Lab:
    """A Lab on the namespaced cluster under `<home>/partitions`, started unless it runs (not warmed up: the
    experiments here count records, they do not time them). ClusterError naming what is missing where network
    namespaces cannot be made, or when the environment names a cluster labkit did not start."""
    if settings.external:
        raise ClusterError(
            f"this notebook runs only on labkit's own cluster: Kafka at {settings.kafka_bootstrap_servers} is one "
            "labkit did not start, and the notebook cuts links between brokers (unset KAFKA_BOOTSTRAP_SERVERS)"
        )
    home = settings.home / "partitions"
    LocalCluster(home).up(brokers, DEFAULT_KAFKA_PORT, PARTITION_REDIS_PORT, network=NAMESPACES)
    return Lab(replace(settings, home=home))


def stop_partition_lab(lab: Lab) -> None:
    """Close the Lab, then stop its cluster and delete its data and namespaces."""
    lab.down()
    LocalCluster(lab.settings.home).down(wipe=True)


@dataclass(frozen=True)
class PartitionSeen:
    leader: int
    isr: tuple[int, ...]


def seen_by(lab: Lab, topic: str, brokers: list[int], timeout: float = 5.0) -> dict[int, PartitionSeen]:
    """Each partition's leader and ISR as the metadata of `brokers` says (a fenced broker is not in what the
    others answer, so a client bootstrapped on the majority never asks the isolated one). {} if none answers."""
    state = LocalCluster(lab.settings.home).namespaced_state()
    bootstrap = ",".join(b.address for b in state.brokers if b.node_id in brokers)
    config: dict[str, Any] = {**connection_config(bootstrap), "logger": _QUIET}
    admin = AdminClient(config)
    try:
        partitions = admin.list_topics(topic, timeout=timeout).topics[topic].partitions
    except (KafkaException, KeyError):
        return {}
    return {p: PartitionSeen(m.leader, tuple(sorted(m.isrs))) for p, m in sorted(partitions.items())}


def quorum_leaders(lab: Lab) -> dict[int, int | None]:
    """node id → the controller quorum's leader as that node last wrote it down."""
    local = LocalCluster(lab.settings.home)
    return {b.node_id: quorum_view(local, b.node_id)[0] for b in local.namespaced_state().brokers}


def longest_gap(times: list[float]) -> float:
    """The longest time between two successive moments (seconds), 0 for fewer than two."""
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0)
