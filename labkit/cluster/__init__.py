"""The embedded local cluster: Kafka KRaft brokers as JVM processes and a Redis-protocol server."""

from labkit.cluster.local import LocalCluster
from labkit.cluster.state import ClusterState, ClusterStatus

__all__ = ["ClusterState", "ClusterStatus", "LocalCluster"]
