"""What the embedded cluster is: its layout (ports, brokers), the state file's records, what runs of it now, and
where its brokers keep their data."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from labkit.checks import is_int
from labkit.cluster import broker as kafka_broker
from labkit.cluster import redis_server
from labkit.cluster.network import LOOPBACK
from labkit.errors import ConfigError

DEFAULT_KAFKA_PORT = 9092
DEFAULT_REDIS_PORT = 6379
CONTROLLER_PORT_OFFSET = 100  # broker on 9092 → its controller listener on 9192
MAX_BROKERS = 9


@dataclass
class BrokerState:
    node_id: int
    port: int
    controller_port: int
    pid: int | None = None
    host: str = kafka_broker.HOST  # where it listens: 127.0.0.1, or its namespace's address (cluster/network.py)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class ClusterState:
    """What `cluster.json` records: enough to find, check and stop every process later."""

    cluster_id: str
    kafka_version: str
    brokers: list[BrokerState]
    redis_port: int
    redis_pid: int | None = None
    started_at: float = field(default_factory=time.time)
    network: str = LOOPBACK  # or NAMESPACES: each broker on an address of its own (cluster/network.py)
    aot_training: str | None = None  # the AOT cache a broker records, written as it stops (cluster/warm_start.py)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(b.address for b in self.brokers)

    @property
    def bootstrap_controllers(self) -> str:
        return ",".join(f"{b.host}:{b.controller_port}" for b in self.brokers)

    @property
    def redis_url(self) -> str:
        return redis_server.url(self.redis_port)


@dataclass(frozen=True)
class BrokerStatus:
    node_id: int
    address: str
    pid: int | None
    alive: bool


@dataclass(frozen=True)
class ClusterStatus:
    brokers: list[BrokerStatus]
    redis_port: int
    redis_pid: int | None
    redis_alive: bool
    bootstrap_servers: str
    redis_url: str
    kafka_version: str

    @property
    def running(self) -> bool:
        return all(b.alive for b in self.brokers) and self.redis_alive

    @property
    def dead(self) -> list[str]:
        """What is not running, by name: 'broker 2 (127.0.0.1:9093)', 'Redis (127.0.0.1:6379)'."""
        names = [broker_name(b.node_id, b.address) for b in self.brokers if not b.alive]
        return names + ([] if self.redis_alive else [f"Redis ({kafka_broker.HOST}:{self.redis_port})"])

    @property
    def anything_alive(self) -> bool:
        return self.redis_alive or any(b.alive for b in self.brokers)


def broker_name(node_id: int, address: str) -> str:
    """How errors and warnings name a broker of the embedded cluster: 'broker 2 (127.0.0.1:9093)'."""
    return f"broker {node_id} ({address})"


def partial_outage(home: Path, dead: list[str]) -> str:
    """What is down in the embedded cluster in `home` and how to bring it back."""
    return (
        f"the embedded cluster in {home} is partly down: {', '.join(dead)} not running; "
        "`labkit cluster up` (or Lab.up()) restarts what is not running"
    )


def check_layout(brokers: int, kafka_port: int, redis_port: int) -> None:
    if not is_int(brokers) or not 1 <= brokers <= MAX_BROKERS:
        raise ConfigError(f"brokers must be an integer from 1 to {MAX_BROKERS}, got {brokers!r}")
    for name, port in (("kafka_port", kafka_port), ("redis_port", redis_port)):
        if not is_int(port) or not 1024 <= port <= 65535 - CONTROLLER_PORT_OFFSET - MAX_BROKERS:
            raise ConfigError(
                f"{name} must be an integer from 1024 to {65535 - CONTROLLER_PORT_OFFSET - MAX_BROKERS}, got {port!r}"
            )
    kafka_ports = set(range(kafka_port, kafka_port + brokers)) | set(
        range(kafka_port + CONTROLLER_PORT_OFFSET, kafka_port + CONTROLLER_PORT_OFFSET + brokers)
    )
    if redis_port in kafka_ports:
        raise ConfigError(f"redis_port {redis_port} collides with the brokers' ports {sorted(kafka_ports)}")


# Kafka's data in memory (tmpfs) rather than on this machine's ext4 (mounted with `discard`): every new segment's
# first index entry, written once 4 KiB have reached its partition, page-faulted into a sparse memory-mapped
# index file. With an event's 300 partitions that happened everywhere at once, ≈ 15 s into a stream, and JFR
# found the brokers' threads in OffsetIndex.append for 40–50 % of their samples: p99 of seconds for ≈ 20 s.
# On tmpfs the same runs had the plain pipe's 250/s p99 at 212 ms instead of 2,035 ms, and labkit at 100/s
# right after setup_event 378 ms instead of 6.7–9.2 s (bench/jvm_matrix.py; docs/benchmark.md, "Why these settings").
MEMORY_FS = Path("/dev/shm")


def kafka_data_root(home: Path) -> Path:
    """`/dev/shm/labkit-<hash of home>/kafka` where /dev/shm is a writable directory, else `home/kafka`. One
    folder per home, so that the test cluster and the learner's cluster never share data. Lost at a reboot:
    `up` then formats the brokers anew (topics are gone, Redis keeps the venues; setup_event re-creates topics)."""
    if MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK):
        digest = hashlib.sha1(str(Path(home).absolute()).encode()).hexdigest()[:12]
        return MEMORY_FS / f"labkit-{digest}" / "kafka"
    return Path(home).absolute() / "kafka"
