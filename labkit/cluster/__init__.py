"""The embedded local cluster: Kafka KRaft brokers as JVM processes and a Redis-protocol server."""

from labkit.cluster.local import ClusterState, ClusterStatus, LocalCluster

__all__ = ["ClusterState", "ClusterStatus", "LocalCluster"]
